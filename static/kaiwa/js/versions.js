// Versions of a message: its siblings in the conversation's tree (API.md: GET
// /api/conversations/{id}/messages/?tree=1 and POST /api/messages/{id}/select/).

import { api } from './http.js';

const PAGE_SIZE = 500;

/** Every message of the conversation, each with parent_id, sibling_index and sibling_count. */
export async function loadTree(conversationId) {
  const messages = [];
  let next = `/api/conversations/${conversationId}/messages/?tree=1&page_size=${PAGE_SIZE}`;
  while (next) {
    const page = await api(next);
    messages.push(...page.results);
    next = page.next;
  }
  return messages;
}

/** The sibling `step` places from `messageId` (-1: the previous version), or null. */
export function siblingOf(tree, messageId, step) {
  const message = tree.find((m) => m.id === messageId);
  if (!message) return null;
  const parentId = message.parent_id ?? null;
  const wanted = message.sibling_index + step;
  return tree.find((m) => (m.parent_id ?? null) === parentId && m.sibling_index === wanted) ?? null;
}

/** Make `messageId`'s branch the active path; resolves to the new path. */
export function selectVersion(messageId) {
  return api(`/api/messages/${messageId}/select/`, { method: 'POST' });
}
