// fetch() for the page scripts: session cookie, CSRF header, JSON in and out, API.md errors.

export class ApiError extends Error {
  constructor(status, body) {
    const detail = body && typeof body === 'object' && typeof body.detail === 'string' ? body.detail : '';
    super(detail || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = (body && body.code) || (status === 0 ? 'network' : 'error');
    this.detail = detail;
    // DRF field errors: {"field": ["message", ...]}
    this.fields = body && typeof body === 'object' && !body.code ? body : {};
  }
}

/** The page's CSRF token (Django's `{{ csrf_token }}` in <meta name="csrf-token">). */
export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : '';
}

/** Call the Kaiwa API as the logged-in user; resolves to the JSON body (null for 204). */
export async function api(path, { method = 'GET', body, signal, headers: extra = {} } = {}) {
  const headers = { ...extra, Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', signal };
  if (method !== 'GET' && method !== 'HEAD') {
    headers['X-CSRFToken'] = csrfToken();
  }
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, null);
  }
  if (response.status === 204) return null;
  let data = null;
  const type = response.headers.get('Content-Type') || '';
  if (type.includes('json')) {
    data = await response.json().catch(() => null);
  }
  if (!response.ok) {
    if (response.status === 401 || response.status === 403) {
      if (data && data.code === 'not_authenticated') window.location.assign('/accounts/login/');
    }
    throw new ApiError(response.status, data);
  }
  return data;
}

/** A fresh UUID v4 (crypto.randomUUID needs a secure context; getRandomValues does not). */
export function uuid4() {
  if (window.isSecureContext && crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Show the field errors of a DRF 400 next to the fields (elements with data-field-error). */
export function showFieldErrors(form, error) {
  let shown = false;
  for (const node of form.querySelectorAll('[data-field-error]')) {
    const messages = error && error.fields ? error.fields[node.dataset.fieldError] : null;
    node.textContent = Array.isArray(messages) ? messages.join(' ') : '';
    node.hidden = !node.textContent;
    shown = shown || !node.hidden;
  }
  return shown;
}

/** Clone the first element of a <template>. */
export function cloneTemplate(id) {
  return document.getElementById(id).content.firstElementChild.cloneNode(true);
}
