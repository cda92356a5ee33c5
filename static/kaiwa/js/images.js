// Images page: generate with POST /api/images/ as a job (Prefer: respond-async) and show the
// gallery from GET /api/images/. A job in progress shows its elapsed time against the usual
// duration and is replaced by its image when the per-user socket (/ws/events/) says it is
// complete; a reload, or a job started in another tab, shows the same from the API.
// Images are shown only from this site's own owner-only file URLs, never a provider's.

import { showError } from './dialogs.js';
import { api, cloneTemplate } from './http.js';
import { describeError, t } from './i18n.js';
import { ReconnectingSocket } from './socket.js';

const form = document.getElementById('image-create');
const submit = document.getElementById('image-submit');
const status = document.getElementById('image-status');
const gallery = document.getElementById('gallery');
const empty = document.getElementById('gallery-empty');
const galleryError = document.getElementById('gallery-error');
const more = document.getElementById('gallery-more');
let nextPage = null;
// Unfinished jobs on the page, by id: {image, seenAt} (seenAt: local time of the last news).
const jobs = new Map();
// A job is also looked up over the API this often while it runs: a job whose process died
// sends no event, and reading it is what marks it interrupted.
const RECHECK_MS = 10000;

/** Our own relative URL ("/api/images/…"), or null for anything else. */
function ownUrl(url) {
  if (typeof url !== 'string' || !url.startsWith('/') || url.startsWith('//') || url.includes('\\')) {
    return null;
  }
  return url;
}

function isUnfinished(image) {
  return image.status === 'pending' || image.status === 'running';
}

function caption(node, image) {
  node.dataset.imageId = String(image.id);
  node.dataset.status = image.status || 'complete';
  node.querySelector('[data-prompt]').textContent = image.prompt || '';
  node.querySelector('[data-prompt]').title = image.revised_prompt || image.prompt || '';
  node.querySelector('[data-size]').textContent = image.size || '';
  return node;
}

/** A job in progress or one that ended without an image. */
function jobItem(image) {
  const node = caption(cloneTemplate('image-job-template'), image);
  const progress = node.querySelector('[data-progress]');
  const line = node.querySelector('[data-job-status]');
  if (isUnfinished(image)) {
    jobs.set(String(image.id), { image, seenAt: Date.now() });
    showProgress(node, image);
  } else {
    jobs.delete(String(image.id));
    node.classList.add('gallery__item--failed');
    progress.remove();
    const error = image.error || {};
    line.textContent = t('images.failed', { reason: describeError(error.code, error.message) });
  }
  return node;
}

function showProgress(node, image) {
  const progress = node.querySelector('[data-progress]');
  const line = node.querySelector('[data-job-status]');
  if (image.status !== 'running' || !image.started_at) {
    progress.removeAttribute('value'); // indeterminate until it starts
    line.textContent = t('images.pending');
    return;
  }
  const usual = Math.max(1, Number(image.usual_seconds) || 30);
  const elapsed = Math.max(0, (Date.now() - Date.parse(image.started_at)) / 1000);
  progress.max = usual;
  // Never full before it is done: past the usual time it waits near the end.
  progress.value = Math.min(elapsed, usual * 0.95);
  line.textContent = t('images.running', { elapsed: Math.floor(elapsed), usual: Math.round(usual) });
}

function item(image) {
  if (image.status && image.status !== 'complete') return jobItem(image);
  jobs.delete(String(image.id));
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
  return caption(node, image);
}

const STAGE = { pending: 0, running: 1 };

function stage(status) {
  return STAGE[status] ?? 2; // complete, failed, interrupted: ended
}

function itemOf(id) {
  return gallery.querySelector(`[data-image-id="${CSS.escape(String(id))}"]`);
}

/** Put `image` where its item is (a job becomes its image), or first when it is new. News
 * older than what is shown (a late progress event, the POST's answer after the socket's
 * `complete`) is dropped. */
function show(image) {
  const current = itemOf(image.id);
  if (current && stage(image.status) < stage(current.dataset.status)) return;
  const fresh = item(image);
  if (current) current.replaceWith(fresh);
  else gallery.prepend(fresh);
  empty.hidden = true;
}

function tick() {
  const now = Date.now();
  for (const [id, job] of jobs) {
    const node = itemOf(id);
    if (!node) {
      jobs.delete(id);
      continue;
    }
    showProgress(node, job.image);
    if (now - job.seenAt >= RECHECK_MS) {
      job.seenAt = now;
      recheck(id);
    }
  }
}

async function recheck(id) {
  try {
    show(await api(`/api/images/${encodeURIComponent(id)}/`));
  } catch {
    // Offline or gone: the next tick or the socket tells.
  }
}

function onEvent(event) {
  if (!event || event.type !== 'image_job' || !event.image) return;
  show(event.image);
  const job = jobs.get(String(event.image.id));
  if (job) job.seenAt = Date.now();
}

function listen() {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  const socket = new ReconnectingSocket(`${scheme}//${window.location.host}/ws/events/`, {
    onMessage: onEvent,
    // Events missed while the socket was away: read the jobs as they stand.
    onOpen: () => {
      for (const id of jobs.keys()) recheck(id);
    },
  });
  socket.start();
}

function results(page) {
  return Array.isArray(page) ? page : page.results || [];
}

async function load(path) {
  gallery.setAttribute('aria-busy', 'true');
  try {
    const page = await api(path);
    // Those a socket event has already put on the page stay as they are.
    gallery.append(...results(page).filter((image) => !itemOf(image.id)).map(item));
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
    // A job: answered at once; the socket (or a reload) brings the image.
    const image = await api('/api/images/', {
      method: 'POST',
      headers: { Prefer: 'respond-async' },
      body: { prompt: form.elements.prompt.value, size: form.elements.size.value },
    });
    show(image);
    status.textContent = image.status === 'complete' ? t('images.created') : t('images.started');
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

listen();
load('/api/images/');
setInterval(tick, 1000);
