// API-tokens page: create (the plaintext is shown once, here) and revoke.

import { confirmDialog, showError } from './dialogs.js';
import { api, cloneTemplate } from './http.js';
import { describeError, t } from './i18n.js';

const form = document.getElementById('token-create');
const list = document.getElementById('token-list');
const empty = document.getElementById('tokens-empty');
const created = document.getElementById('token-created');
const plaintext = document.getElementById('token-plaintext');
const copyStatus = document.getElementById('token-copy-status');
let shownTokenId = null;

function formatDate(value) {
  return value ? new Date(value).toLocaleString(document.documentElement.lang) : t('tokens.never');
}

function row(token) {
  const node = cloneTemplate('token-row-template');
  node.dataset.tokenId = token.id;
  node.querySelector('[data-name]').textContent = token.name || t('tokens.unnamed');
  node.querySelector('[data-prefix]').textContent = `${token.prefix}…`;
  node.querySelector('[data-created]').textContent = formatDate(token.created_at);
  node.querySelector('[data-last-used]').textContent = formatDate(token.last_used_at);
  return node;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = form.querySelector('[data-error]');
  try {
    const token = await api('/api/tokens/', { method: 'POST', body: { name: form.elements.name.value } });
    list.prepend(row(token));
    empty.hidden = true;
    form.reset();
    showError(error, '');
    // Shown once: it lives only in this input until the page is left.
    plaintext.value = token.token;
    shownTokenId = token.id;
    copyStatus.textContent = '';
    created.hidden = false;
    plaintext.focus();
    plaintext.select();
  } catch (failure) {
    showError(error, describeError(failure.code, failure.detail));
  }
});

document.getElementById('token-copy').addEventListener('click', async () => {
  plaintext.select();
  try {
    await navigator.clipboard.writeText(plaintext.value);
    copyStatus.textContent = t('tokens.copied');
  } catch {
    // No clipboard permission (or not a secure context): the text is selected for Ctrl+C.
  }
});

list.addEventListener('click', async (event) => {
  const button = event.target.closest('button[data-action="revoke"]');
  if (!button) return;
  const tr = button.closest('[data-token-id]');
  const name = tr.querySelector('[data-name]').textContent;
  if (!(await confirmDialog(t('tokens.confirmRevoke', { name }), { okLabel: button.textContent }))) return;
  try {
    await api(`/api/tokens/${tr.dataset.tokenId}/`, { method: 'DELETE' });
    tr.remove();
    empty.hidden = list.children.length > 0;
    if (tr.dataset.tokenId === shownTokenId) {
      // The plaintext of a revoked token is useless: stop showing it.
      created.hidden = true;
      plaintext.value = '';
    }
    form.elements.name.focus();
  } catch (failure) {
    copyStatus.textContent = describeError(failure.code, failure.detail);
  }
});
