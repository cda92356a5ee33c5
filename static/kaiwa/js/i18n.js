// Translations for page scripts: the server renders them, already in the page's language,
// into <script type="application/json" id="kaiwa-i18n"> (never executed, so CSP-safe).

let catalogue = null;

function load() {
  if (catalogue === null) {
    const node = document.getElementById('kaiwa-i18n');
    try {
      catalogue = node ? JSON.parse(node.textContent) : {};
    } catch {
      catalogue = {};
    }
  }
  return catalogue;
}

/** The translated string for `key`, with %(name)s placeholders filled from `params`. */
export function t(key, params = {}) {
  const text = load()[key] ?? key;
  return text.replace(/%\((\w+)\)s/g, (match, name) => (name in params ? String(params[name]) : match));
}

/** A translated sentence for an API.md error code, falling back to the server's text. */
export function describeError(code, serverText = '') {
  const known = load()[`error.${code}`];
  return known ?? (serverText || t('error.generic'));
}
