import type { businessProfile } from "@paygate/client";

// The business profile as a form edits it (every field text), and back: only the fields
// the user changed are sent, named in the update mask (snake_case, as the API's paths).

export interface ProfileForm {
  businessName: string;
  statementDescriptor: string;
  supportEmail: string;
  supportUrl: string;
  country: string;
  acceptedCurrencies: string;
  defaultCaptureMethod: string;
  brandingColor: string;
  logoUrl: string;
}

// The profile's editable fields, as the generated message has them.
export type ProfileLike = Pick<
  businessProfile.BusinessProfile,
  | "businessName" | "statementDescriptor" | "supportEmail" | "supportUrl" | "country"
  | "acceptedCurrencies" | "defaultCaptureMethod" | "brandingColor" | "logoUrl"
>;

export function profileForm(profile: ProfileLike): ProfileForm {
  return {
    businessName: profile.businessName,
    statementDescriptor: profile.statementDescriptor,
    supportEmail: profile.supportEmail,
    supportUrl: profile.supportUrl,
    country: profile.country,
    acceptedCurrencies: profile.acceptedCurrencies.join(", "),
    defaultCaptureMethod: String(profile.defaultCaptureMethod || 1),
    brandingColor: profile.brandingColor,
    logoUrl: profile.logoUrl,
  };
}

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export function changedFields(before: ProfileForm, after: ProfileForm): { profile: ProfileLike; mask: string[] } {
  const mask = (Object.keys(after) as (keyof ProfileForm)[])
    .filter((field) => before[field].trim() !== after[field].trim())
    .map(snake);
  return {
    profile: {
      businessName: after.businessName.trim(),
      statementDescriptor: after.statementDescriptor.trim(),
      supportEmail: after.supportEmail.trim(),
      supportUrl: after.supportUrl.trim(),
      country: after.country.trim().toUpperCase(),
      acceptedCurrencies: after.acceptedCurrencies.split(",").map((c) => c.trim().toUpperCase()).filter(Boolean),
      defaultCaptureMethod: Number(after.defaultCaptureMethod),
      brandingColor: after.brandingColor.trim(),
      logoUrl: after.logoUrl.trim(),
    },
    mask,
  };
}
