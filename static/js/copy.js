// Copy buttons: <button data-copy-target="id"> copies that input's value.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copyTarget);
  const status = button.parentElement.querySelector(".copy-status");
  field.select();
  try {
    await navigator.clipboard.writeText(field.value);
    if (status) status.textContent = "Copied.";
  } catch (error) {
    if (status) status.textContent = "Select the key and copy it by hand.";
  }
});
