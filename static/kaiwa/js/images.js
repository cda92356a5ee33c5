// Images page: generate with POST /api/images/ and show the gallery from GET /api/images/.
// Images are shown only from this site's own owner-only file URLs, never a provider's.

import { showError } from './dialogs.js';
import { api, cloneTemplate } from './http.js';
import { describeError, t } from './i18n.js';

const form = document.getElementById('image-create');
const submit = document.getElementById('image-submit');
const status = document.getElementById('image-status');
const gallery = document.getElementById('gallery');
const empty = document.getElementById('gallery-empty');
const galleryError = document.getElementById('gallery-error');
const more = document.getElementById('gallery-more');
let nextPage = null;

/** Our own relative URL ("/api/images/…"), or null for anything else. */
function ownUrl(url) {
  if (typeof url !== 'string' || !url.startsWith('/') || url.startsWith('//') || url.includes('\\')) {
    return null;
  }
  return url;
}

function item(image) {
  const url = ownUrl(image.url);
  const node = cloneTemplate('image-template');
  node.dataset.imageId = String(image.id);
  const img = node.querySelector('[data-image]');
  const link = node.querySelector('[data-link]');
  const prompt = image.revised_prompt || image.prompt || '';
  img.alt = prompt;
  if (url) {
    img.src = url;
    link.href = url;
  }
  node.querySelector('[data-prompt]').textContent = image.prompt || '';
  node.querySelector('[data-prompt]').title = prompt;
  node.querySelector('[data-size]').textContent = image.size || '';
  return node;
}

function results(page) {
  return Array.isArray(page) ? page : page.results || [];
}

async function load(path) {
  gallery.setAttribute('aria-busy', 'true');
  try {
    const page = await api(path);
    gallery.append(...results(page).map(item));
    nextPage = Array.isArray(page) ? null : page.next;
    showError(galleryError, '');
  } catch (failure) {
    showError(galleryError, describeError(failure.code, failure.detail));
  } finally {
    gallery.removeAttribute('aria-busy');
    empty.hidden = gallery.children.length > 0;
    more.hidden = !nextPage;
  }
}

more.addEventListener('click', () => {
  if (!nextPage) return;
  // Follow the cursor on our own origin only.
  const next = new URL(nextPage, window.location.origin);
  load(`${next.pathname}${next.search}`);
});

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = form.querySelector('[data-error]');
  showError(error, '');
  submit.disabled = true;
  status.textContent = t('images.generating');
  form.setAttribute('aria-busy', 'true');
  try {
    const image = await api('/api/images/', {
      method: 'POST',
      body: { prompt: form.elements.prompt.value, size: form.elements.size.value },
    });
    gallery.prepend(item(image));
    empty.hidden = true;
    status.textContent = t('images.created');
    form.elements.prompt.value = '';
  } catch (failure) {
    status.textContent = '';
    const fields = Object.values(failure.fields || {}).flat();
    showError(error, fields.length ? fields.join(' ') : describeError(failure.code, failure.detail));
  } finally {
    submit.disabled = false;
    form.removeAttribute('aria-busy');
  }
});

load('/api/images/');
