// The inline editor of a sent message: the same keys as the composer (Enter saves and sends,
// Shift+Enter breaks the line, an IME's confirming Enter does neither), Escape cancels.

import { bindComposer } from './composer.js';
import { cloneTemplate } from './http.js';

/**
 * Replace the text of the message `el` with an editor holding `text`; `allowEmpty`: the
 * message carries files, so an empty text may be saved.
 * @returns {{close(options?: {restoreFocus?: boolean}): void, el: HTMLElement}}
 */
export function openEditor(el, { text, onSave, onClose, allowEmpty = false }) {
  const body = el.querySelector('[data-body]');
  const actions = el.querySelector('.message__actions');
  const form = cloneTemplate('message-editor-template');
  const textarea = form.querySelector('textarea');
  textarea.value = text;
  textarea.required = !allowEmpty;
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
    if (value.trim() || allowEmpty) onSave(value);
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
