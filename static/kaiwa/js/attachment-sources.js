// Where attached files come from: the paperclip button (a hidden file input), files dragged
// and dropped onto the chat, and images pasted from the clipboard.

function hasFiles(dataTransfer) {
  return Boolean(dataTransfer) && [...dataTransfer.types].includes('Files');
}

/**
 * Call `onFiles(files)` with the files the user picks, drops or pastes.
 * @param {object} parts
 *   button, input: the paperclip and its <input type="file" multiple>
 *   dropZone: the element files can be dropped on (gets the class is-dropping meanwhile)
 *   pasteTarget: the text box whose pastes may carry files
 */
export function bindAttachmentSources({ button, input, dropZone, pasteTarget, onFiles }) {
  button.addEventListener('click', () => input.click());
  input.addEventListener('change', () => {
    const files = [...input.files];
    input.value = ''; // picking the same file again must fire `change` again
    if (files.length) onFiles(files);
  });

  // dragenter and dragleave fire for every child crossed: count them, so the highlight only
  // goes when the pointer leaves the zone itself.
  let depth = 0;
  const setDropping = (on) => dropZone.classList.toggle('is-dropping', on);
  dropZone.addEventListener('dragenter', (event) => {
    if (!hasFiles(event.dataTransfer)) return;
    event.preventDefault();
    depth += 1;
    setDropping(true);
  });
  dropZone.addEventListener('dragover', (event) => {
    if (!hasFiles(event.dataTransfer)) return;
    event.preventDefault(); // allows the drop
    event.dataTransfer.dropEffect = 'copy';
  });
  dropZone.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) setDropping(false);
  });
  dropZone.addEventListener('drop', (event) => {
    depth = 0;
    setDropping(false);
    if (!hasFiles(event.dataTransfer)) return;
    event.preventDefault();
    const files = [...event.dataTransfer.files];
    if (files.length) onFiles(files);
  });
  // A file dropped just beside the zone would otherwise replace the page with the file.
  for (const type of ['dragover', 'drop']) {
    window.addEventListener(type, (event) => {
      if (hasFiles(event.dataTransfer) && !dropZone.contains(event.target)) {
        event.preventDefault();
        event.dataTransfer.dropEffect = 'none';
      }
    });
  }

  pasteTarget.addEventListener('paste', (event) => {
    const data = event.clipboardData;
    if (!data || !data.files || data.files.length === 0) return;
    // Office applications put a picture of the copied cells or text beside the text itself:
    // when there is text, the paste is the text.
    if ([...data.types].includes('text/plain') && data.getData('text/plain')) return;
    event.preventDefault();
    onFiles([...data.files]);
  });
}
