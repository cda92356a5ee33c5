// The message box (and the inline editor of a sent message): Enter sends, Shift+Enter breaks
// the line, and the Enter that confirms an IME conversion (Japanese kana-kanji, Chinese,
// Korean) never sends.

/** True while an IME composition is in progress, or for the key event that ends one. */
export function isImeEnter(event, composing) {
  // isComposing: the standard flag. keyCode 229: what Chrome/Safari report for keys the IME
  // handles (Safari fires compositionend *before* the confirming keydown, so the flag alone
  // is not enough there). `composing`: our own compositionstart/compositionend tracking.
  return event.isComposing || event.keyCode === 229 || composing;
}

/**
 * Wire up a textarea so that Enter calls `onSend(text)` (and Escape `onCancel()`, if given).
 * @returns {{clear(): void, focus(): void}}
 */
export function bindComposer(textarea, { onSend, onCancel = null }) {
  let composing = false;
  textarea.addEventListener('compositionstart', () => {
    composing = true;
  });
  textarea.addEventListener('compositionend', () => {
    composing = false;
  });
  textarea.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && onCancel && !isImeEnter(event, composing)) {
      // Escape during a conversion only cancels the conversion.
      event.preventDefault();
      onCancel();
      return;
    }
    if (event.key !== 'Enter') return;
    if (isImeEnter(event, composing)) return;
    if (event.shiftKey || event.altKey) return; // the textarea's own new line
    event.preventDefault();
    onSend(textarea.value);
  });
  return {
    clear() {
      textarea.value = '';
    },
    focus() {
      textarea.focus();
    },
  };
}
