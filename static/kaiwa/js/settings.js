// Per-conversation settings (system prompt, model, temperature, max tokens) via PATCH.

import { showError } from './dialogs.js';
import { api, showFieldErrors } from './http.js';
import { describeError, t } from './i18n.js';

function numberOrNull(value, parse) {
  const trimmed = value.trim();
  if (trimmed === '') return null;
  const number = parse(trimmed);
  return Number.isNaN(number) ? trimmed : number; // let the API say what is wrong
}

export function bindSettings({ button, dialog, form, conversationId, onSaved }) {
  const error = form.querySelector('#settings-error');
  button.addEventListener('click', () => {
    showError(error, '');
    showFieldErrors(form, null);
    dialog.showModal();
  });
  form.addEventListener('submit', async (event) => {
    if (event.submitter && event.submitter.value === 'cancel') return; // the dialog closes
    event.preventDefault();
    const body = {
      system_prompt: form.elements.system_prompt.value,
      model: form.elements.model.value, // a <select> of the ids of GET /api/models/
      temperature: numberOrNull(form.elements.temperature.value, Number.parseFloat),
      max_tokens: numberOrNull(form.elements.max_tokens.value, (v) => Number.parseInt(v, 10)),
    };
    try {
      const conversation = await api(`/api/conversations/${conversationId()}/`, { method: 'PATCH', body });
      showFieldErrors(form, null);
      dialog.close('saved');
      onSaved(conversation, t('settings.saved'));
    } catch (failure) {
      if (!showFieldErrors(form, failure)) showError(error, describeError(failure.code, failure.detail));
    }
  });
}
