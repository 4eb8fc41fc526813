// Swagger UI for one API (templates/docs/swagger.html). Everything it needs
// comes from data attributes of #swagger-ui: no inline script, and no key:
// "Try it out" uses what the developer pastes into the Authorize dialog.
"use strict";
(() => {
  const root = document.getElementById("swagger-ui");
  if (!root || typeof SwaggerUIBundle !== "function") return;
  const csrfToken = root.dataset.csrfToken;
  const unsafe = (method) => !["GET", "HEAD", "OPTIONS"].includes((method || "GET").toUpperCase());
  const sameOrigin = (url) => new URL(url, document.baseURI).origin === window.location.origin;

  root.replaceChildren();
  const ui = SwaggerUIBundle({
    url: root.dataset.schemaUrl,
    domNode: root,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    displayRequestDuration: true,
    // The default sends the schema to validator.swagger.io for a badge.
    validatorUrl: null,
    // Keys stay in this page's memory: never in localStorage.
    persistAuthorization: false,
    oauth2RedirectUrl: new URL(root.dataset.oauth2RedirectUrl, document.baseURI).href,
    requestInterceptor: (request) => {
      // A signed-in portal session calling the management API: Django wants
      // its CSRF token on unsafe methods. Never sent to another origin.
      if (csrfToken && unsafe(request.method) && sameOrigin(request.url)) {
        request.headers["X-CSRFToken"] = csrfToken;
      }
      return request;
    },
    onComplete: () => root.setAttribute("data-rendered", "true"),
  });
  ui.initOAuth({ usePkceWithAuthorizationCodeGrant: true });
})();
