// Notes page: create, edit and delete through /api/notes/.

import { confirmDialog, showError } from './dialogs.js';
import { api, cloneTemplate } from './http.js';
import { describeError, t } from './i18n.js';

const list = document.getElementById('note-list');
const empty = document.getElementById('notes-empty');
const status = document.getElementById('notes-status');
const createForm = document.getElementById('note-create');

function fieldMessage(error) {
  const fields = Object.entries(error.fields || {});
  if (fields.length) return fields.map(([name, messages]) => `${name}: ${[].concat(messages).join(' ')}`).join(' ');
  return describeError(error.code, error.detail);
}

function fill(item, note) {
  item.dataset.noteId = String(note.id);
  item.querySelector('[data-title]').textContent = note.title;
  item.querySelector('[data-content]').textContent = note.content;
  const time = item.querySelector('[data-updated]');
  const updated = new Date(note.updated_at);
  time.dateTime = note.updated_at;
  time.textContent = updated.toLocaleString(document.documentElement.lang);
}

function newItem(note) {
  const item = cloneTemplate('note-template');
  // Unique ids so each edit form's labels point at its own fields.
  for (const label of item.querySelectorAll('[data-label-for]')) {
    const id = `note-${label.dataset.labelFor}-${note.id}`;
    label.htmlFor = id;
    item.querySelector(`[name="${label.dataset.labelFor}"]`).id = id;
  }
  fill(item, note);
  return item;
}

createForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = createForm.querySelector('[data-error]');
  try {
    const note = await api('/api/notes/', {
      method: 'POST',
      body: { title: createForm.elements.title.value, content: createForm.elements.content.value },
    });
    list.prepend(newItem(note));
    empty.hidden = true;
    createForm.reset();
    showError(error, '');
    status.textContent = t('notes.saved');
  } catch (failure) {
    showError(error, fieldMessage(failure));
  }
});

list.addEventListener('click', async (event) => {
  const button = event.target.closest('button[data-action]');
  if (!button) return;
  const item = button.closest('[data-note-id]');
  const view = item.querySelector('[data-view]');
  const form = item.querySelector('[data-edit-form]');
  if (button.dataset.action === 'edit') {
    form.elements.title.value = item.querySelector('[data-title]').textContent;
    form.elements.content.value = item.querySelector('[data-content]').textContent;
    view.hidden = true;
    form.hidden = false;
    form.elements.title.focus();
  } else if (button.dataset.action === 'cancel') {
    form.hidden = true;
    view.hidden = false;
    item.querySelector('[data-action="edit"]').focus();
  } else if (button.dataset.action === 'delete') {
    const title = item.querySelector('[data-title]').textContent;
    if (!(await confirmDialog(t('notes.confirmDelete', { title }), { okLabel: t('delete') }))) return;
    try {
      await api(`/api/notes/${item.dataset.noteId}/`, { method: 'DELETE' });
      item.remove();
      empty.hidden = list.children.length > 0;
      createForm.elements.title.focus();
    } catch (failure) {
      status.textContent = describeError(failure.code, failure.detail);
    }
  }
});

list.addEventListener('submit', async (event) => {
  const form = event.target.closest('[data-edit-form]');
  if (!form) return;
  event.preventDefault();
  const item = form.closest('[data-note-id]');
  const error = form.querySelector('[data-error]');
  try {
    const note = await api(`/api/notes/${item.dataset.noteId}/`, {
      method: 'PATCH',
      body: { title: form.elements.title.value, content: form.elements.content.value },
    });
    fill(item, note);
    showError(error, '');
    form.hidden = true;
    item.querySelector('[data-view]').hidden = false;
    item.querySelector('[data-action="edit"]').focus();
    status.textContent = t('notes.saved');
  } catch (failure) {
    showError(error, fieldMessage(failure));
  }
});

list.addEventListener('keydown', (event) => {
  const form = event.target.closest('[data-edit-form]');
  if (form && event.key === 'Escape') form.querySelector('[data-action="cancel"]').click();
});
