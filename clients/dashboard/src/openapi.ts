// The API reference's model: docs/openapi.json (Swagger 2.0, written by `make gen`)
// grouped by service, each operation with its parameters, request fields and answer
// fields, $refs resolved. The page renders this; it is small enough to need no library.

export interface Schema {
  $ref?: string;
  type?: string;
  format?: string;
  description?: string;
  title?: string;
  enum?: string[];
  items?: Schema;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  required?: string[];
}

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  type?: string;
  format?: string;
  description?: string;
  schema?: Schema;
  enum?: string[];
  items?: Schema;
}

interface Operation {
  operationId: string;
  summary?: string;
  description?: string;
  tags?: string[];
  parameters?: Parameter[];
  responses: Record<string, { description?: string; schema?: Schema }>;
  security?: unknown[];
}

export interface OpenApi {
  info?: { title?: string; description?: string };
  paths: Record<string, Record<string, Operation>>;
  definitions: Record<string, Schema>;
}

export interface Field {
  name: string;
  type: string;
  description: string;
  required: boolean;
  // Fields of an object (one level per call of fieldsOf; the page expands on demand).
  schema?: Schema;
}

export interface Endpoint {
  id: string;
  method: string;
  path: string;
  summary: string;
  description: string;
  authenticated: boolean;
  parameters: Field[];
  body: Schema | null;
  answer: Schema | null;
  errors: string[];
}

export interface Group {
  name: string;
  endpoints: Endpoint[];
}

const METHOD_ORDER = ["get", "post", "put", "patch", "delete"];

export function resolve(doc: OpenApi, schema: Schema | undefined): Schema | undefined {
  const seen = new Set<string>();
  let current = schema;
  while (current?.$ref && !seen.has(current.$ref)) {
    seen.add(current.$ref);
    current = doc.definitions[current.$ref.replace("#/definitions/", "")];
  }
  return current;
}

// A type as a reader wants it: "string (int64)", "PaymentIntent", "array of string".
export function typeName(doc: OpenApi, schema: Schema | undefined): string {
  if (!schema) return "";
  if (schema.$ref) {
    const target = resolve(doc, schema);
    if (target?.enum) return typeName(doc, target); // an enum's values say more than its name
    return schema.$ref.replace("#/definitions/", "").replace(/^v1/, "");
  }
  if (schema.type === "array") return `array of ${typeName(doc, schema.items)}`;
  if (schema.enum) return `enum: ${schema.enum.join(" | ")}`;
  if (schema.type === "object" && schema.additionalProperties && typeof schema.additionalProperties === "object") {
    return `map of ${typeName(doc, schema.additionalProperties)}`;
  }
  return schema.format ? `${schema.type} (${schema.format})` : schema.type ?? "object";
}

export function fieldsOf(doc: OpenApi, schema: Schema | undefined): Field[] {
  const resolved = resolve(doc, schema);
  const target = resolved?.type === "array" ? resolve(doc, resolved.items) : resolved;
  const required = new Set(target?.required ?? []);
  return Object.entries(target?.properties ?? {})
    .map(([name, property]) => {
      const inner = resolve(doc, property.type === "array" ? property.items : property);
      return {
        name,
        type: typeName(doc, property),
        description: property.description ?? property.title ?? inner?.description ?? "",
        required: required.has(name),
        schema: inner?.properties ? property : undefined,
      };
    })
    .sort((a, b) => Number(b.required) - Number(a.required) || a.name.localeCompare(b.name));
}

export function groupsOf(doc: OpenApi): Group[] {
  const groups = new Map<string, Endpoint[]>();
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      const tag = op.tags?.[0] ?? "Other";
      const parameters = (op.parameters ?? []).filter((p) => p.in !== "body");
      const body = (op.parameters ?? []).find((p) => p.in === "body")?.schema ?? null;
      const endpoint: Endpoint = {
        id: `${method}-${path}`.replace(/[^\w-]+/g, "-"),
        method: method.toUpperCase(),
        path,
        summary: op.summary ?? op.operationId,
        description: op.description ?? "",
        authenticated: !(Array.isArray(op.security) && op.security.length === 0),
        parameters: parameters.map((p) => ({
          name: p.name,
          type: `${p.in}: ${typeName(doc, p.schema ?? (p as Schema))}`,
          description: p.description ?? "",
          required: Boolean(p.required),
        })),
        body,
        answer: op.responses["200"]?.schema ?? null,
        errors: Object.keys(op.responses).filter((code) => code !== "200" && code !== "default").sort(),
      };
      groups.set(tag, [...(groups.get(tag) ?? []), endpoint]);
    }
  }
  return [...groups.entries()]
    .map(([name, endpoints]) => ({
      name: name.replace(/Service$/, ""),
      endpoints: endpoints.sort(
        (a, b) => a.path.localeCompare(b.path) || METHOD_ORDER.indexOf(a.method.toLowerCase()) - METHOD_ORDER.indexOf(b.method.toLowerCase()),
      ),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

// Endpoints whose path, method or summary contains every word of the query.
export function filterGroups(groups: Group[], query: string): Group[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return groups;
  return groups
    .map((g) => ({
      ...g,
      endpoints: g.endpoints.filter((e) => {
        const text = `${g.name} ${e.method} ${e.path} ${e.summary}`.toLowerCase();
        return words.every((w) => text.includes(w));
      }),
    }))
    .filter((g) => g.endpoints.length > 0);
}
