// checkout.js: the hosted checkout in a modal on the merchant's own page.
//
//   <script src="https://PAYGATE/js/v1/checkout.js"></script>
//   Paygate("pk_test_...").openCheckout({
//     clientSecret,                       // from the merchant's server (the intent's)
//     onSuccess: ({ paymentIntent }) => {},
//     onFailure: ({ paymentIntent, message }) => {},   // the shopper may still retry
//     onClose: () => {},
//   });
//
// The page runs in an iframe of the gateway's origin, so the card never touches the
// merchant's page. Messages go both ways with postMessage, each side checking the other's
// origin (and the iframe's window). Escape or the close button closes the modal.
// Self-contained and small (a size limit is enforced by the build): no client, no deps.

interface CheckoutOptions {
  clientSecret: string;
  onSuccess?: (event: { paymentIntent: string }) => void;
  onFailure?: (event: { paymentIntent: string; message: string }) => void;
  onClose?: () => void;
}

interface PaygateOptions {
  // The gateway's URL; default: where this script was loaded from.
  baseUrl?: string;
}

const scriptOrigin = (() => {
  const src = (document.currentScript as HTMLScriptElement | null)?.src;
  return src ? new URL(src).origin : location.origin;
})();

function style(el: HTMLElement, css: Partial<CSSStyleDeclaration>): void {
  Object.assign(el.style, css);
}

function Paygate(publishableKey: string, options: PaygateOptions = {}) {
  if (!/^pk_(test|live)_[\w-]+$/.test(publishableKey || "")) {
    throw new Error("Paygate(publishableKey): pass your publishable key (pk_test_... or pk_live_...)");
  }
  const origin = options.baseUrl ? new URL(options.baseUrl).origin : scriptOrigin;

  function openCheckout(checkout: CheckoutOptions): { close: () => void } {
    const secret = checkout.clientSecret || "";
    const intent = secret.split("_secret_")[0];
    if (!/^pi_[\w-]+_secret_[\w-]+$/.test(secret)) throw new Error("openCheckout: clientSecret is the intent's client_secret");
    const opener = document.activeElement as HTMLElement | null;

    const overlay = document.createElement("div");
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-modal", "true");
    overlay.setAttribute("aria-label", "Checkout");
    style(overlay, {
      position: "fixed", inset: "0", zIndex: "2147483647", background: "rgba(10,20,40,.55)",
      display: "flex", alignItems: "center", justifyContent: "center",
    });
    const frame = document.createElement("iframe");
    frame.title = "Secure checkout";
    frame.src = `${origin}/checkout/${encodeURIComponent(intent)}?client_secret=${encodeURIComponent(secret)}#origin=${encodeURIComponent(location.origin)}`;
    frame.setAttribute("allow", "payment");
    style(frame, { width: "100%", maxWidth: "30rem", height: "100%", maxHeight: "44rem", border: "0", borderRadius: "12px", background: "#fff" });
    const closeButton = document.createElement("button");
    closeButton.type = "button";
    closeButton.textContent = "×";
    closeButton.setAttribute("aria-label", "Close checkout");
    style(closeButton, {
      position: "absolute", top: ".75rem", right: ".75rem", width: "2.5rem", height: "2.5rem", fontSize: "1.5rem",
      border: "0", borderRadius: "50%", background: "#fff", color: "#1a1f36", lineHeight: "1",
      padding: "0", cursor: "pointer", font: "400 1.5rem/1 system-ui, sans-serif",
    });
    overlay.append(frame, closeButton);

    let open = true;
    function close(): void {
      if (!open) return;
      open = false;
      window.removeEventListener("message", onMessage);
      document.removeEventListener("keydown", onKey);
      overlay.remove();
      opener?.focus?.();
      checkout.onClose?.();
    }
    function onMessage(event: MessageEvent): void {
      if (event.origin !== origin || event.source !== frame.contentWindow) return;
      const data = event.data;
      if (!data || data.source !== "paygate" || data.paymentIntent !== intent) return;
      if (data.type === "ready") frame.contentWindow?.postMessage({ source: "paygate", type: "focus" }, origin);
      if (data.type === "success") checkout.onSuccess?.({ paymentIntent: intent });
      if (data.type === "failure") checkout.onFailure?.({ paymentIntent: intent, message: String(data.message || "") });
      if (data.type === "close") close();
    }
    function onKey(event: KeyboardEvent): void {
      if (event.key === "Escape") close();
    }
    closeButton.addEventListener("click", close);
    window.addEventListener("message", onMessage);
    document.addEventListener("keydown", onKey);
    document.body.append(overlay);
    frame.focus();
    return { close };
  }

  return { openCheckout };
}

(window as unknown as { Paygate: typeof Paygate }).Paygate = Paygate;
