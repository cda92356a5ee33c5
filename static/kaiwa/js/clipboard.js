// Copying text to the clipboard from a button.

/** Copy `text`; true when it reached the clipboard. */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Permission refused: fall through to the older way, which a click still allows.
    }
  }
  const scratch = document.createElement('textarea');
  scratch.className = 'visually-hidden';
  scratch.value = text;
  scratch.setAttribute('readonly', '');
  const focused = document.activeElement;
  document.body.append(scratch);
  scratch.select();
  let copied = false;
  try {
    copied = document.execCommand('copy');
  } catch {
    copied = false;
  }
  scratch.remove();
  if (focused instanceof HTMLElement) focused.focus();
  return copied;
}

/** The text of a rendered code block, without the line break that ends every fence. */
export function codeText(pre) {
  const code = pre.querySelector('code') || pre;
  return code.textContent.replace(/\n$/, '');
}
