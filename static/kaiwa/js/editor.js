// The inline editor of a sent message: the same keys as the composer (Enter saves and sends,
// Shift+Enter breaks the line, an IME's confirming Enter does neither), Escape cancels.

import { bindComposer } from './composer.js';
import { cloneTemplate } from './http.js';

/**
 * Replace the text of the message `el` with an editor holding `text`.
 * @returns {{close(options?: {restoreFocus?: boolean}): void, el: HTMLElement}}
 */
export function openEditor(el, { text, onSave, onClose }) {
  const body = el.querySelector('[data-body]');
  const actions = el.querySelector('.message__actions');
  const form = cloneTemplate('message-editor-template');
  const textarea = form.querySelector('textarea');
  textarea.value = text;
  body.hidden = true;
  if (actions) actions.hidden = true;
  body.after(form);
  el.classList.add('is-editing');

  let open = true;
  const editor = {
    el,
    close({ restoreFocus = true } = {}) {
      if (!open) return;
      open = false;
      form.remove();
      body.hidden = false;
      if (actions) actions.hidden = false;
      el.classList.remove('is-editing');
      onClose();
      const button = el.querySelector('[data-action="edit"]');
      if (restoreFocus && button && el.isConnected) button.focus();
    },
  };
  const save = (value) => {
    if (value.trim()) onSave(value);
  };
  bindComposer(textarea, { onSend: save, onCancel: () => editor.close() });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    save(textarea.value);
  });
  form.querySelector('[data-action="cancel-edit"]').addEventListener('click', () => editor.close());
  textarea.focus();
  textarea.setSelectionRange(textarea.value.length, textarea.value.length);
  return editor;
}
