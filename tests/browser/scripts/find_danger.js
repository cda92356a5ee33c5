// Everything in the message list that could run script, load from elsewhere or navigate away.
() => {
  const FORBIDDEN = [
    'script', 'iframe', 'object', 'embed', 'form', 'svg', 'math', 'base', 'meta', 'link',
    'style', 'video', 'audio', 'source', 'input', 'textarea', 'template', 'noscript',
  ];
  const DANGEROUS_SCHEME = /^(javascript|vbscript|data):/i;
  const list = document.getElementById('message-list');
  const found = [];
  for (const el of list.querySelectorAll('*')) {
    const tag = el.tagName.toLowerCase();
    if (FORBIDDEN.includes(tag)) found.push(`<${tag}>`);
    for (const attr of el.attributes) {
      if (attr.name.startsWith('on')) found.push(`${tag}[${attr.name}]`);
      if (['style', 'srcset', 'srcdoc', 'formaction'].includes(attr.name)) {
        found.push(`${tag}[${attr.name}]`);
      }
    }
    const href = el.getAttribute('href');
    if (href !== null && DANGEROUS_SCHEME.test(href.replace(/[\u0000-\u0020]/g, ''))) {
      found.push(`${tag}[href=${href}]`);
    }
    if (tag === 'a' && el.href && DANGEROUS_SCHEME.test(new URL(el.href).protocol)) {
      found.push(`a -> ${el.href}`);
    }
    if (tag === 'img' && el.getAttribute('src') !== null) {
      const url = new URL(el.getAttribute('src'), location.href);
      if (url.origin !== location.origin) found.push(`img -> ${url.href}`);
    }
  }
  return found;
}
