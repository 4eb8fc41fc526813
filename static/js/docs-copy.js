// Copy buttons of the docs: <button data-copy-snippet="id"> copies the text
// of that element (a <pre><code> snippet).
"use strict";
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy-snippet]");
  if (!button) return;
  const snippet = document.getElementById(button.dataset.copySnippet);
  const status = button.parentElement.querySelector(".copy-status");
  try {
    await navigator.clipboard.writeText(snippet.textContent);
    if (status) status.textContent = "Copied.";
  } catch (error) {
    const range = document.createRange();
    range.selectNodeContents(snippet);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    if (status) status.textContent = "Selected: copy it with your keyboard.";
  }
});
