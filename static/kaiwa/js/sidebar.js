// The conversation list: search, rename and delete through the REST API.

import { confirmDialog, showError } from './dialogs.js';
import { api, cloneTemplate } from './http.js';
import { describeError, t } from './i18n.js';

const SEARCH_DELAY_MS = 250;

export class Sidebar {
  constructor({ root, list, empty, search, status, toggle, chatUrl, currentId, onRenamed }) {
    Object.assign(this, { root, list, empty, search, status, toggle, chatUrl, currentId, onRenamed });
    this.emptyText = empty.textContent;
    this.searchTimer = null;
    this.searchAbort = null;
    search.addEventListener('input', () => {
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => this.load(search.value.trim()), SEARCH_DELAY_MS);
    });
    search.form.addEventListener('submit', (event) => {
      event.preventDefault();
      clearTimeout(this.searchTimer);
      this.load(search.value.trim());
    });
    list.addEventListener('click', (event) => {
      const button = event.target.closest('button[data-action]');
      if (!button) return;
      const item = button.closest('[data-conversation-id]');
      if (button.dataset.action === 'rename') this.startRename(item);
      if (button.dataset.action === 'delete') this.remove(item);
    });
    toggle.addEventListener('click', () => this.setOpen(!root.classList.contains('is-open')));
    root.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && root.classList.contains('is-open')) {
        this.setOpen(false);
        toggle.focus();
      }
    });
  }

  setOpen(open) {
    this.root.classList.toggle('is-open', open);
    this.toggle.setAttribute('aria-expanded', String(open));
    if (open) this.search.focus();
  }

  async load(query = '') {
    if (this.searchAbort) this.searchAbort.abort();
    this.searchAbort = new AbortController();
    const params = new URLSearchParams({ page_size: '100' });
    if (query) params.set('search', query);
    try {
      const page = await api(`/api/conversations/?${params}`, { signal: this.searchAbort.signal });
      this.render(page.results, query);
      showError(this.status, '');
    } catch (error) {
      if (error.name !== 'AbortError') showError(this.status, describeError(error.code, error.detail));
    }
  }

  render(conversations, query = '') {
    this.list.replaceChildren(...conversations.map((c) => this.item(c)));
    this.empty.textContent = query ? t('search.none') : this.emptyText;
    this.empty.hidden = conversations.length > 0;
  }

  item(conversation) {
    const item = cloneTemplate('conversation-item-template');
    item.dataset.conversationId = conversation.id;
    const link = item.querySelector('[data-title]');
    link.href = `${this.chatUrl}${conversation.id}/`;
    link.textContent = conversation.title || t('untitled');
    if (conversation.id === this.currentId) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
    return item;
  }

  /** Put a (new or changed) conversation at the top of the list. */
  upsert(conversation) {
    const existing = this.list.querySelector(`[data-conversation-id="${CSS.escape(conversation.id)}"]`);
    if (existing) existing.remove();
    if (!this.search.value.trim()) {
      this.list.prepend(this.item(conversation));
      this.empty.hidden = true;
    }
  }

  /** Show a conversation's new title where it is listed (its place does not change). */
  setTitle(conversationId, title) {
    const item = this.list.querySelector(`[data-conversation-id="${CSS.escape(conversationId)}"]`);
    const link = item && item.querySelector('[data-title]');
    if (link) link.textContent = title || t('untitled');
  }

  setCurrent(conversationId) {
    this.currentId = conversationId;
    for (const link of this.list.querySelectorAll('[data-title]')) {
      const id = link.closest('[data-conversation-id]').dataset.conversationId;
      if (id === conversationId) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
  }

  startRename(item) {
    if (item.querySelector('form')) return;
    const link = item.querySelector('[data-title]');
    const form = document.createElement('form');
    form.className = 'conversation-item__rename';
    const input = document.createElement('input');
    input.name = 'title';
    input.maxLength = 200;
    input.value = link.textContent === t('untitled') ? '' : link.textContent;
    input.setAttribute('aria-label', t('conversation.renameLabel'));
    form.append(input);
    link.hidden = true;
    item.querySelector('.conversation-item__actions').hidden = true;
    item.prepend(form);
    input.focus();
    input.select();

    let done = false;
    const finish = () => {
      done = true;
      form.remove();
      link.hidden = false;
      item.querySelector('.conversation-item__actions').hidden = false;
    };
    const save = async () => {
      if (done) return;
      const title = input.value.trim();
      finish();
      try {
        const conversation = await api(`/api/conversations/${item.dataset.conversationId}/`, {
          method: 'PATCH',
          body: { title },
        });
        link.textContent = conversation.title || t('untitled');
        if (this.onRenamed) this.onRenamed(conversation);
        showError(this.status, '');
      } catch (error) {
        showError(this.status, describeError(error.code, error.detail));
      }
      link.focus();
    };
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      save();
    });
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        event.preventDefault();
        event.stopPropagation();
        finish();
        link.focus();
      }
    });
    input.addEventListener('blur', () => save());
  }

  async remove(item) {
    const title = item.querySelector('[data-title]').textContent;
    if (!(await confirmDialog(t('conversation.confirmDelete', { title }), { okLabel: t('delete') }))) return;
    const id = item.dataset.conversationId;
    try {
      await api(`/api/conversations/${id}/`, { method: 'DELETE' });
    } catch (error) {
      showError(this.status, describeError(error.code, error.detail));
      return;
    }
    if (id === this.currentId) {
      window.location.assign('/');
      return;
    }
    const next = item.nextElementSibling || item.previousElementSibling;
    item.remove();
    this.empty.hidden = this.list.children.length > 0;
    const focusTarget = next ? next.querySelector('[data-title]') : this.search;
    focusTarget.focus();
  }
}
