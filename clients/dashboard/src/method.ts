// How a payment was paid, in a line a merchant's support reads: the card's brand and last
// four digits, the UPI address, the wallet, the bank (PaymentIntent.payment_method_details).

interface DetailsLike {
  type: string;
  details:
    | { case: "card"; value: { brand: string; last4: string } }
    | { case: "upi"; value: { vpa: string } }
    | { case: "wallet"; value: { provider: string; name: string } }
    | { case: "netbanking"; value: { bank: string; name: string } }
    | { case: undefined; value?: undefined };
}

const capitalized = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

export function methodText(details: DetailsLike | undefined): string {
  switch (details?.details.case) {
    case "card": {
      const { brand, last4 } = details.details.value;
      return [brand ? capitalized(brand) : "Card", last4 ? `•••• ${last4}` : ""].filter(Boolean).join(" ");
    }
    case "upi":
      return `UPI ${details.details.value.vpa}`.trim();
    case "wallet": {
      const { name, provider } = details.details.value;
      return `${name || provider} wallet`;
    }
    case "netbanking": {
      const { name, bank } = details.details.value;
      return `Net banking, ${name || bank}${name && bank ? ` (${bank})` : ""}`;
    }
    default:
      return details?.type ?? "";
  }
}
