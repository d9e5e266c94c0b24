// The demo merchant's page: its server creates the payment intent, checkout.js takes
// the payment in a modal. This is all a merchant writes.
const shop = document.getElementById("shop");
const outcome = document.getElementById("outcome");
const buy = document.getElementById("buy");

buy.addEventListener("click", async () => {
  buy.disabled = true;
  outcome.textContent = "";
  try {
    const response = await fetch("/create-payment-intent", { method: "POST" });
    if (!response.ok) throw new Error(`the shop's server answered ${response.status}`);
    const { client_secret: clientSecret } = await response.json();
    Paygate(shop.dataset.publishableKey).openCheckout({
      clientSecret,
      onSuccess: ({ paymentIntent }) => {
        outcome.textContent = `Thank you! Payment ${paymentIntent} succeeded.`;
        outcome.dataset.paymentIntent = paymentIntent;
      },
      onFailure: ({ message }) => {
        outcome.textContent = `The payment did not go through (${message}); you can try again.`;
      },
      onClose: () => {
        buy.disabled = false;
        buy.focus();
      },
    });
  } catch (error) {
    outcome.textContent = `Could not start the payment: ${error.message}`;
    buy.disabled = false;
  }
});
