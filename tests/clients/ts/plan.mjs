// Pieces of the scenario plan shared by the TypeScript driver's scenarios. The Python driver
// implements the same rules (../py/driver.py); keep the two in step.

/** Every scenario the drivers know, in the order they run. */
export const ALL_SCENARIOS = [
  "initialize", "tools", "calls", "progress", "resources", "subscribe", "prompts",
  "completion", "logging", "sampling", "elicitation", "ping", "cancel",
];

/** What the client answers to `sampling/createMessage`; tests look for it in tool results. */
export const CANNED_SAMPLING_TEXT = "vecgate-canned-sampling-answer";

/** The string the client puts in every free-text field of an elicitation form. */
export const CANNED_ELICITATION_TEXT = "vecgate-canned-elicitation";

/** A value for one property of an elicitation form that satisfies its schema. */
function cannedValue(prop) {
  if (prop.const !== undefined) return prop.const;
  if (Array.isArray(prop.enum) && prop.enum.length) return prop.enum[0];
  for (const key of ["oneOf", "anyOf"]) {
    if (Array.isArray(prop[key]) && prop[key].length) return cannedValue(prop[key][0]);
  }
  switch (prop.type) {
    case "boolean": return true;
    case "integer":
    case "number": {
      if (prop.default !== undefined) return prop.default;
      return prop.minimum ?? (prop.maximum !== undefined ? Math.min(1, prop.maximum) : 1);
    }
    case "array": {
      const item = prop.items ?? {};
      const n = Math.max(1, prop.minItems ?? 1);
      const pool = item.enum ?? (item.anyOf ?? item.oneOf ?? []).map((x) => x.const);
      return pool.length ? pool.slice(0, n) : Array(n).fill(cannedValue(item));
    }
    default:
      switch (prop.format) {
        case "email": return "canned@vecgate.test";
        case "uri": return "https://vecgate.test/canned";
        case "date": return "2000-01-01";
        case "date-time": return "2000-01-01T00:00:00Z";
        default: return CANNED_ELICITATION_TEXT;
      }
  }
}

/** Content for an `elicitation/create` form: every property filled with a valid canned value. */
export function cannedElicitation(schema) {
  const content = {};
  for (const [key, prop] of Object.entries(schema?.properties ?? {})) content[key] = cannedValue(prop);
  return content;
}

/** All text in a list of content blocks (embedded resources included). */
export function textOf(content) {
  return (content ?? []).map((c) => {
    if (c.type === "text") return c.text;
    if (c.type === "resource") return c.resource?.text ?? "";
    return "";
  }).join("\n");
}

/**
 * The listed name a plan's name stands for: itself, or the one listed name that namespaces it
 * (`{pool}__{name}`, how vecgate exposes a name several pools share).
 */
export function resolveName(name, listed, kind) {
  if (listed.includes(name)) return name;
  const namespaced = listed.filter((n) => n.endsWith(`__${name}`));
  if (namespaced.length === 1) return namespaced[0];
  throw new Error(`${kind} ${JSON.stringify(name)} not listed (${namespaced.length} namespaced matches among ${listed.length})`);
}

/** The listed resource URI a plan entry (`uri` exact, or `uri_contains`) picks. */
export function pickUri(spec, uris) {
  if (spec.uri) {
    if (!uris.includes(spec.uri) && !spec.unlisted) throw new Error(`resource ${spec.uri} not listed`);
    return spec.uri;
  }
  const found = uris.find((u) => u.includes(spec.uri_contains));
  if (!found) throw new Error(`no listed resource URI contains ${JSON.stringify(spec.uri_contains)} (listed: ${uris.slice(0, 10).join(", ")})`);
  return found;
}
