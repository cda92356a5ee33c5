// Uploading one file with progress. fetch() reports no upload progress, so this is the one
// place the page scripts use XMLHttpRequest; errors come back as http.js's ApiError.

import { ApiError, csrfToken } from './http.js';

/**
 * POST `file` as multipart field `file` to `url` with the session cookie and CSRF header.
 * `onProgress(fraction)` gets 0..1 while the bytes go out (null when the size is unknown).
 * Resolves to the JSON answer; rejects with an ApiError, or an AbortError after `signal` aborts.
 */
export function uploadFile(url, file, { onProgress = null, signal = null } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.responseType = 'json';
    xhr.withCredentials = true;
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('X-CSRFToken', csrfToken());
    if (onProgress) {
      xhr.upload.addEventListener('progress', (event) => {
        onProgress(event.lengthComputable && event.total > 0 ? event.loaded / event.total : null);
      });
    }
    xhr.addEventListener('load', () => {
      const body = xhr.response;
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(body);
        return;
      }
      if (xhr.status === 401 || (xhr.status === 403 && body && body.code === 'not_authenticated')) {
        window.location.assign('/accounts/login/');
      }
      reject(new ApiError(xhr.status, normaliseError(xhr.status, body)));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, null)));
    xhr.addEventListener('abort', () => reject(new DOMException('The upload was cancelled.', 'AbortError')));
    if (signal) {
      if (signal.aborted) {
        reject(new DOMException('The upload was cancelled.', 'AbortError'));
        return;
      }
      signal.addEventListener('abort', () => xhr.abort(), { once: true });
    }
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

/** API.md's `{detail, code}` (or DRF's field errors); a proxy's non-JSON 413 refused the
 * request before it reached Kaiwa. */
function normaliseError(status, body) {
  if (body && typeof body === 'object') return body;
  if (status === 413) return { code: 'attachment_too_large', detail: '' };
  return null;
}
