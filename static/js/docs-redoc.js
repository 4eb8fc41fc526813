// Redoc for one API (templates/docs/redoc.html): loaded just before Redoc's
// bundle, it starts Redoc once the page is parsed, with the schema URL from a
// data attribute. No inline script; the page's policy is script-src 'self'.
"use strict";
(() => {
  // This response's CSP nonce for style-src, which only this element holds.
  const nonce = document.currentScript && document.currentScript.nonce;

  // Redoc styles itself by inserting <style> elements: styled-components'
  // carry the nonce once Redoc is given it, but one stylesheet (the sidebar's
  // scrollbar) is inserted while the bundle loads, before that. Give it the
  // nonce as it is created; undone once the bundle has loaded.
  const createElement = Document.prototype.createElement;
  Document.prototype.createElement = function (name, options) {
    const element = createElement.call(this, name, options);
    if (nonce && String(name).toLowerCase() === "style") {
      element.setAttribute("nonce", nonce);
    }
    return element;
  };

  // The sidebar credits Redocly with a logo from its CDN; this site loads
  // nothing from third parties (img-src 'self' data:), so that image gets no
  // source rather than being blocked (docs.css hides it; the words stay).
  const offSite = (value) => String(value).startsWith("https://cdn.redoc.ly/");
  const source = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    ...source,
    set(value) {
      if (!offSite(value)) source.set.call(this, value);
    },
  });
  const setAttribute = Element.prototype.setAttribute;
  HTMLImageElement.prototype.setAttribute = function (name, value) {
    if (String(name).toLowerCase() === "src" && offSite(value)) return;
    return setAttribute.call(this, name, value);
  };

  document.addEventListener("DOMContentLoaded", () => {
    Document.prototype.createElement = createElement;
    const root = document.getElementById("redoc");
    if (!root || typeof Redoc === "undefined") return;
    const system = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
    root.replaceChildren();
    Redoc.init(
      root.dataset.schemaUrl,
      {
        nonce,
        expandResponses: "200,201",
        theme: {
          typography: { fontFamily: system, headings: { fontFamily: system } },
          colors: { primary: { main: "#0b5cad" } },
        },
      },
      root,
      () => root.setAttribute("data-rendered", "true"),
    );
  });
})();
