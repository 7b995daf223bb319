// Pages work without this file; it only polishes htmx behaviour.
document.addEventListener("htmx:responseError", function (event) {
  var target = event.detail.target;
  if (target && event.detail.xhr && event.detail.xhr.responseText) {
    target.innerHTML = event.detail.xhr.responseText;
  }
});
