// Pages work without this file; it only polishes htmx behaviour.
document.addEventListener("htmx:responseError", function (event) {
  var target = event.detail.target;
  if (target && event.detail.xhr && event.detail.xhr.responseText) {
    target.innerHTML = event.detail.xhr.responseText;
  }
});

// After an error answer (which carries only the error) the generate form gets its next idempotency key this way.
document.addEventListener("gensaas:idempotency-key", function (event) {
  var form = event.target && event.target.closest ? event.target.closest("form") : null;
  var input = (form || document).querySelector("input[name='Input.IdempotencyKey']");
  if (input && event.detail && event.detail.value) {
    input.value = event.detail.value;
  }
});
