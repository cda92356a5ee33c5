// A confirmation that is a real <dialog> (focus-trapped, Esc cancels), not window.confirm().

export function confirmDialog(message, { okLabel } = {}) {
  const dialog = document.getElementById('confirm-dialog');
  dialog.querySelector('[data-message]').textContent = message;
  const ok = dialog.querySelector('[data-ok]');
  const defaultLabel = ok.dataset.defaultLabel ?? ok.textContent;
  ok.dataset.defaultLabel = defaultLabel;
  ok.textContent = okLabel || defaultLabel;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
    ok.focus();
  });
}

/** Show `text` in an error paragraph (hidden when empty). */
export function showError(node, text) {
  if (!node) return;
  node.textContent = text || '';
  node.hidden = !text;
}
