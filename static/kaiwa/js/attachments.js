// Attachments on the chat page: the tray of files attached to the message being written
// (uploaded at once, with progress, removable until sent) and the chips and thumbnails of a
// sent message. Both are cloned from server-rendered <template>s and filled as text only.

import { api, cloneTemplate, csrfToken } from './http.js';
import { describeError, t } from './i18n.js';
import { uploadFile } from './uploads.js';

const KB = 1024;
const MB = 1024 * 1024;

/** "12 bytes", "3.4 KB", "1.2 MB", like Django's filesizeformat on the server-rendered chips. */
export function formatSize(bytes) {
  const size = Number(bytes) || 0;
  const number = (value) =>
    new Intl.NumberFormat(document.documentElement.lang || undefined, {
      minimumFractionDigits: 1,
      maximumFractionDigits: 1,
    }).format(value);
  if (size < KB) return t('attachments.bytes', { size });
  // KB and MB read the same in Japanese and English.
  if (size < MB) return `${number(size / KB)} KB`;
  return `${number(size / MB)} MB`;
}

/** Fill a chip (a message's or the tray's) from an attachment as the API describes it. */
function fill(el, attachment) {
  const isImage = attachment.kind === 'image';
  el.dataset.attachmentId = attachment.id;
  el.dataset.kind = attachment.kind;
  el.classList.toggle('attachment--image', isImage);
  el.classList.toggle('attachment--document', !isImage);
  const link = el.querySelector('[data-attachment-link]');
  if (link) link.href = attachment.url;
  const thumb = el.querySelector('[data-attachment-thumb]');
  thumb.hidden = !isImage;
  if (isImage) thumb.src = attachment.url;
  el.querySelector('[data-attachment-icon]').hidden = isImage;
  el.querySelector('[data-attachment-name]').textContent = attachment.name;
  el.querySelector('[data-attachment-size]').textContent = formatSize(attachment.size);
  const note = el.querySelector('[data-attachment-note]');
  note.textContent = attachment.included_note || '';
  note.hidden = !note.textContent;
}

/** Show a message's attachments (API.md: each message's `attachments`) in its bubble. */
export function showAttachments(bubble, attachments) {
  const list = bubble.querySelector('[data-attachments]');
  if (!list) return;
  list.replaceChildren(
    ...(attachments || []).map((attachment) => {
      const chip = cloneTemplate('attachment-template');
      fill(chip, attachment);
      return chip;
    }),
  );
  list.hidden = list.children.length === 0;
}

/** The ids of the attachments shown in a bubble (to send them again on a retry). */
export function attachmentIdsOf(bubble) {
  const chips = bubble.querySelectorAll('[data-attachments] [data-attachment-id]');
  return [...chips].map((el) => el.dataset.attachmentId);
}

/**
 * The files attached to the message being written. Each file is uploaded as soon as it is
 * added; the message can be sent once no upload is running.
 */
export class AttachmentTray {
  /**
   * @param {HTMLElement} list the <ul> of chips in the composer
   * @param {object} options
   *   uploadUrl(): a promise of the URL to POST to (it may have to create the conversation)
   *   onChange(): called whenever an upload starts, ends or a chip is removed
   *   onError(text): a readable sentence for a file that could not be attached ('' clears it)
   *   maxBytes: the server's ATTACHMENT_MAX_BYTES (larger files are refused without uploading)
   *   onEmptied(): the user removed the last chip (to move the focus elsewhere)
   */
  constructor(list, options) {
    const { uploadUrl, maxBytes = 0 } = options;
    const { onChange = () => {}, onError = () => {}, onEmptied = () => {} } = options;
    this.list = list;
    this.uploadUrl = uploadUrl;
    this.onChange = onChange;
    this.onError = onError;
    this.maxBytes = maxBytes;
    this.onEmptied = onEmptied;
    this.items = [];
    this.errors = [];
    list.addEventListener('click', (event) => {
      const button = event.target.closest('[data-action="remove-attachment"]');
      if (!button) return;
      const index = this.items.findIndex((candidate) => candidate.el.contains(button));
      if (index === -1) return;
      this.remove(this.items[index]);
      // The keyboard stays in the tray (the next chip's ×), or goes back to the text box.
      const next = this.items[Math.min(index, this.items.length - 1)];
      if (next) next.el.querySelector('[data-action="remove-attachment"]').focus();
      else this.onEmptied();
    });
  }

  /** True while a file is still being uploaded. */
  get uploading() {
    return this.items.some((item) => item.state === 'uploading');
  }

  /** The uploaded attachments, in the order they were added. */
  get attachments() {
    return this.items.filter((item) => item.state === 'ready').map((item) => item.attachment);
  }

  /** Attach and upload `files` (from the button, a drop or a paste). */
  add(files) {
    this.errors = [];
    this.onError('');
    for (const file of files) {
      if (this.maxBytes && file.size > this.maxBytes) {
        this.report(file, t('attachments.tooLarge', { limit: formatSize(this.maxBytes) }));
      } else {
        this.upload(file);
      }
    }
  }

  /** Put back attachments already uploaded (those of a send the server refused). */
  restore(attachments) {
    for (const attachment of attachments) {
      const item = this.newItem(attachment.name, attachment.size);
      this.ready(item, attachment);
    }
    this.render();
  }

  newItem(name, size) {
    const el = cloneTemplate('composer-attachment-template');
    const item = { el, state: 'uploading', attachment: null, abort: new AbortController() };
    el.querySelector('[data-attachment-name]').textContent = name;
    el.querySelector('[data-attachment-size]').textContent = formatSize(size);
    const remove = el.querySelector('[data-action="remove-attachment"]');
    remove.setAttribute('aria-label', t('attachments.remove', { name }));
    this.items.push(item);
    return item;
  }

  ready(item, attachment) {
    item.state = 'ready';
    item.attachment = attachment;
    fill(item.el, attachment);
    item.el.classList.remove('is-uploading');
    item.el.querySelector('[data-attachment-progress]').hidden = true;
  }

  async upload(file) {
    const item = this.newItem(file.name, file.size);
    const progress = item.el.querySelector('[data-attachment-progress]');
    progress.removeAttribute('value'); // indeterminate until the first progress event
    this.render();
    let attachment;
    try {
      const url = await this.uploadUrl();
      attachment = await uploadFile(url, file, {
        signal: item.abort.signal,
        onProgress: (fraction) => {
          if (fraction === null) progress.removeAttribute('value');
          else progress.value = fraction;
        },
      });
    } catch (error) {
      if (error.name === 'AbortError') return; // removed by the user while uploading
      this.drop(item);
      this.fail(file, error);
      return;
    }
    if (item.state !== 'uploading') return;
    this.ready(item, attachment);
    this.onChange();
  }

  /** Take a file off the message: stop its upload, or delete the unsent attachment. */
  remove(item) {
    const wasReady = item.state === 'ready';
    item.abort.abort();
    this.drop(item);
    if (wasReady) {
      // Unsent attachments are the user's to delete; a failure leaves an orphan the server
      // never sends, so it is not worth an error on screen.
      api(`/api/attachments/${item.attachment.id}/`, { method: 'DELETE' }).catch(() => {});
    }
  }

  /**
   * The page is being left: delete the files never sent (nothing could send them any more).
   * keepalive lets the requests outlive the page.
   */
  discardUnsent() {
    for (const item of [...this.items]) {
      if (item.state !== 'ready') continue; // an upload still running ends with the page
      fetch(`/api/attachments/${item.attachment.id}/`, {
        method: 'DELETE',
        credentials: 'same-origin',
        headers: { 'X-CSRFToken': csrfToken(), Accept: 'application/json' },
        keepalive: true,
      }).catch(() => {});
      // Gone if the page comes back from the back-forward cache.
      this.drop(item);
    }
  }

  /** Forget every chip without deleting anything: the message that used them was sent. */
  clear() {
    for (const item of this.items) {
      item.state = 'sent';
      item.el.remove();
    }
    this.items = [];
    this.render();
  }

  drop(item) {
    item.state = 'removed';
    this.items = this.items.filter((candidate) => candidate !== item);
    item.el.remove();
    this.render();
  }

  fail(file, error) {
    // A known code reads in the page's language; a new one falls back to the server's text.
    this.report(file, describeError(error.code, error.detail || firstFieldError(error)));
  }

  report(file, reason) {
    this.errors.push(t('attachments.failed', { name: file.name, reason }));
    this.onError(this.errors.join('\n'));
  }

  render() {
    for (const item of this.items) {
      if (item.el.parentNode !== this.list) this.list.append(item.el);
    }
    this.list.hidden = this.items.length === 0;
    this.onChange();
  }
}

function firstFieldError(error) {
  for (const messages of Object.values(error.fields || {})) {
    if (Array.isArray(messages) && messages.length) return String(messages[0]);
  }
  return '';
}
