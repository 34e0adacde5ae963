#!/usr/bin/env node
// Checks that the cancel operation published in the seed documents (shared/seeds/000_* and
// 001_*: OpenAPI JSON embedded in a ```json fence) is a subset of payoutd's own document
// (docs/openapi/cashouts-v3.yaml). Exit 0 when every seed operation is contained, 1 on any
// mismatch (each one printed with where it is), 2 on a usage or input error.
//
// "Contained" means, for every path and method of the seed:
//   - the same URL exists in the project: server base path + path template are compared, so the
//     seed's `https://…/v3` + `/cashout/cancel` matches payoutd's root + `/v3/cashout/cancel`;
//     the same method; the same operationId when the seed gives one;
//   - every header parameter the seed requires is required by the project: as a header parameter
//     of that name, or (Payload-Signature) as an apiKey-in-header security scheme every security
//     alternative of the operation requires, or (Content-Type) as a request body media type equal
//     to the parameter's default;
//   - a required request body stays required, in every media type the seed lists;
//   - every response status the seed lists exists, with every media type the seed lists;
//   - every schema the seed gives (request body and responses) is contained in the project's
//     schema at the same place: local $refs are resolved and allOf merged on both sides; every
//     property the seed names exists; every name the seed requires is required; `type` is the
//     same (where the project offers alternatives — anyOf/oneOf without a type of its own — one
//     alternative must contain the seed's schema); every validation keyword the seed states
//     (format, maxLength, minLength, maximum, minimum, pattern, enum, …) has the same value in the
//     project. The project may add keywords the seed does not state (required members, enum,
//     minLength, …): it may be more precise, never different. Annotations (description, title,
//     example, default) are not compared.
//
// Usage: node docs/openapi/check-seed-subset.mjs [--project FILE] [SEED_FILE ...]
//   Seeds default to shared/seeds/000_* and 001_* under $PAYOUTD_SHARED_DIR, else ../shared
//   next to the repository root.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');

function usage(message) {
  console.error(`check-seed-subset: ${message}`);
  console.error('usage: node docs/openapi/check-seed-subset.mjs [--project FILE] [SEED_FILE ...]');
  process.exit(2);
}

// ---- Arguments and inputs ----

let projectFile = path.join(here, 'cashouts-v3.yaml');
const seedFiles = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; ++i) {
  if (argv[i] === '--project') {
    if (i + 1 >= argv.length) usage('--project needs a file');
    projectFile = argv[++i];
  } else if (argv[i] === '--help' || argv[i] === '-h') {
    usage('help');
  } else if (argv[i].startsWith('-')) {
    usage(`unknown option ${argv[i]}`);
  } else {
    seedFiles.push(argv[i]);
  }
}
if (seedFiles.length === 0) {
  const shared = process.env.PAYOUTD_SHARED_DIR || path.join(repoRoot, '..', 'shared');
  const seedsDir = path.join(shared, 'seeds');
  let names = [];
  try {
    names = fs.readdirSync(seedsDir);
  } catch (error) {
    usage(`cannot read ${seedsDir} (${error.code}); set PAYOUTD_SHARED_DIR or pass the seed files`);
  }
  for (const prefix of ['000_', '001_']) {
    const name = names.find((n) => n.startsWith(prefix));
    if (!name) usage(`no seed ${prefix}* in ${seedsDir}`);
    seedFiles.push(path.join(seedsDir, name));
  }
}

function readText(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    usage(`cannot read ${file} (${error.code})`);
  }
}

// The first ```json fenced block of a seed page, parsed.
function seedDocument(file) {
  const text = readText(file);
  const match = text.match(/```json[^\n]*\n([\s\S]*?)\n```/);
  if (!match) usage(`${file}: no \`\`\`json block`);
  try {
    return JSON.parse(match[1]);
  } catch (error) {
    usage(`${file}: the json block does not parse: ${error.message}`);
  }
}

let project;
try {
  project = yaml.load(readText(projectFile));
} catch (error) {
  usage(`${projectFile}: not YAML: ${error.message}`);
}
if (!project || typeof project !== 'object' || !project.paths) usage(`${projectFile}: not an OpenAPI document`);

// ---- Helpers ----

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const ANNOTATIONS = new Set(['description', 'title', 'example', 'examples', 'default', 'externalDocs',
  'deprecated', 'readOnly', 'writeOnly', 'xml', 'discriminator']);

function pointer(parts) {
  return '#/' + parts.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
}

function resolve(doc, node, seen = new Set()) {
  while (node && typeof node === 'object' && typeof node.$ref === 'string') {
    const ref = node.$ref;
    if (!ref.startsWith('#/')) throw new Error(`external $ref ${ref} is not supported`);
    if (seen.has(ref)) throw new Error(`circular $ref ${ref}`);
    seen.add(ref);
    let target = doc;
    for (const raw of ref.slice(2).split('/')) {
      const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      target = target?.[key];
    }
    if (target === undefined) throw new Error(`unresolved $ref ${ref}`);
    node = target;
  }
  return node;
}

// A schema with its $refs resolved and its allOf merged into one object (properties united,
// required united, other keywords: the first one stated wins).
function flatten(doc, schema) {
  schema = resolve(doc, schema);
  if (!schema || typeof schema !== 'object' || !Array.isArray(schema.allOf)) return schema;
  const { allOf, ...rest } = schema;
  let merged = { ...rest };
  for (const part of allOf) {
    const flat = flatten(doc, part);
    for (const [key, value] of Object.entries(flat)) {
      if (key === 'properties') {
        merged.properties = { ...(value || {}), ...(merged.properties || {}) };
      } else if (key === 'required') {
        merged.required = [...new Set([...(merged.required || []), ...value])];
      } else if (!(key in merged)) {
        merged[key] = value;
      }
    }
  }
  return merged;
}

function equalJson(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

// The errors (strings) that keep `seedSchema` from being contained in `projectSchema`.
function schemaErrors(seedSchema, projectSchema, where) {
  const seed = flatten(seedDoc, seedSchema);
  const mine = flatten(project, projectSchema);
  if (!mine || typeof mine !== 'object') return [`${where}: missing in the project`];
  if (!seed || typeof seed !== 'object') return [];

  // Alternatives (anyOf/oneOf) without a type of their own: one must contain the seed's schema.
  const alternatives = mine.anyOf || mine.oneOf;
  if (alternatives && mine.type === undefined && mine.properties === undefined) {
    const tried = alternatives.map((branch, i) =>
      schemaErrors(seed, branch, `${where} (${mine.anyOf ? 'anyOf' : 'oneOf'}[${i}])`));
    if (tried.some((errors) => errors.length === 0)) return [];
    return [`${where}: no alternative of the project's schema contains the seed's`, ...tried.flat()];
  }

  const errors = [];
  for (const key of Object.keys(seed)) {
    if (ANNOTATIONS.has(key) || key.startsWith('x-')) continue;
    const value = seed[key];
    switch (key) {
      case 'type':
        if (mine.type !== value) errors.push(`${where}: type is ${JSON.stringify(mine.type)}, the seed says ${JSON.stringify(value)}`);
        break;
      case 'properties':
        for (const [name, sub] of Object.entries(value || {})) {
          const other = mine.properties?.[name];
          if (other === undefined) {
            errors.push(`${where}: property "${name}" of the seed is missing`);
          } else {
            errors.push(...schemaErrors(sub, other, `${where}.${name}`));
          }
        }
        break;
      case 'required':
        for (const name of value) {
          if (!(mine.required || []).includes(name)) errors.push(`${where}: "${name}" is required by the seed, not by the project`);
        }
        break;
      case 'items':
        errors.push(...schemaErrors(value, mine.items, `${where}[]`));
        break;
      case 'additionalProperties':
        if (value === false && mine.additionalProperties !== false) errors.push(`${where}: the seed forbids additional properties`);
        else if (typeof value === 'object') errors.push(...schemaErrors(value, mine.additionalProperties, `${where}{*}`));
        break;
      case 'nullable':
        if (value === true && mine.nullable !== true) errors.push(`${where}: the seed allows null, the project does not`);
        break;
      case 'anyOf':
      case 'oneOf':
        if (!equalJson(value, mine[key])) errors.push(`${where}: ${key} differs from the seed's`);
        break;
      default:
        // format, maxLength, pattern, enum, ... and any other validation keyword: identical.
        if (!equalJson(mine[key], value)) {
          errors.push(`${where}: ${key} is ${JSON.stringify(mine[key])}, the seed says ${JSON.stringify(value)}`);
        }
    }
  }
  return errors;
}

function basePaths(doc) {
  const servers = Array.isArray(doc.servers) && doc.servers.length > 0 ? doc.servers : [{ url: '/' }];
  return [...new Set(servers.map((server) => {
    let pathname;
    try {
      pathname = new URL(server.url, 'http://relative.invalid').pathname;
    } catch {
      pathname = '/';
    }
    return pathname.replace(/\/+$/, '');
  }))];
}

// "/v3" + "/cashout/{id}" -> "/v3/cashout/{}" (parameter names do not matter).
function fullPath(base, template) {
  return (base + template).replace(/\{[^}]*\}/g, '{}').replace(/\/+$/, '') || '/';
}

function findProjectPath(seedFull) {
  for (const base of basePaths(project)) {
    for (const template of Object.keys(project.paths)) {
      if (fullPath(base, template) === seedFull) return template;
    }
  }
  return undefined;
}

// The security alternatives in force for a project operation.
function securityOf(operation) {
  return operation.security !== undefined ? operation.security : (project.security || []);
}

function headerRequiredByProject(name, pathItem, operation) {
  const lower = name.toLowerCase();
  const params = [...(pathItem.parameters || []), ...(operation.parameters || [])].map((p) => resolve(project, p));
  const param = params.find((p) => p.in === 'header' && String(p.name).toLowerCase() === lower);
  if (param) return param.required === true ? { how: 'header parameter', schema: param.schema } : { error: 'a header parameter, but not required' };
  if (lower === 'content-type') return undefined;  // handled with the request body
  const schemes = project.components?.securitySchemes || {};
  const alternatives = securityOf(operation);
  const covers = (requirement) => Object.keys(requirement).some((scheme) => {
    const s = resolve(project, schemes[scheme] || {});
    return s.type === 'apiKey' && s.in === 'header' && String(s.name).toLowerCase() === lower;
  });
  if (alternatives.length > 0 && alternatives.every(covers)) return { how: 'apiKey security scheme' };
  return { error: 'neither a required header parameter nor a required apiKey header security scheme' };
}

// ---- The check ----

let seedDoc;
let failures = 0;
let checks = 0;

for (const seedFile of seedFiles) {
  seedDoc = seedDocument(seedFile);
  const label = `${path.basename(seedFile)} (${seedDoc.servers?.[0]?.url || 'no server'})`;
  const seedBases = basePaths(seedDoc);
  for (const [seedTemplate, seedItem] of Object.entries(seedDoc.paths || {})) {
    for (const method of METHODS) {
      const seedOp = seedItem[method];
      if (!seedOp) continue;
      const errors = [];
      const notes = [];
      const seedFull = fullPath(seedBases[0], seedTemplate);
      const template = findProjectPath(seedFull);
      const title = `${method.toUpperCase()} ${seedFull}`;
      ++checks;
      if (template === undefined) {
        errors.push(`no path of the project is ${seedFull} (server base path + path)`);
      } else {
        const item = project.paths[template];
        const op = item[method];
        notes.push(`project path ${template} (server ${project.servers?.[0]?.url ?? '/'})`);
        if (!op) {
          errors.push(`${template} has no ${method.toUpperCase()} operation`);
        } else {
          const at = ['paths', template, method];
          if (seedOp.operationId && op.operationId !== seedOp.operationId) {
            errors.push(`operationId is ${JSON.stringify(op.operationId)}, the seed says ${JSON.stringify(seedOp.operationId)}`);
          }
          // Parameters.
          const seedParams = [...(seedItem.parameters || []), ...(seedOp.parameters || [])].map((p) => resolve(seedDoc, p));
          for (const p of seedParams) {
            if (p.in === 'header') {
              if (!p.required) continue;
              if (String(p.name).toLowerCase() === 'content-type') {
                const wanted = p.schema?.default || 'application/json';
                const content = resolve(project, op.requestBody || {}).content || {};
                if (!(wanted in content)) errors.push(`header Content-Type: the request body has no ${wanted} media type`);
                else notes.push(`header Content-Type ⇒ request body ${wanted}`);
                continue;
              }
              const found = headerRequiredByProject(p.name, item, op);
              if (found?.error) errors.push(`header ${p.name}: ${found.error}`);
              else if (found) {
                notes.push(`header ${p.name} ⇒ ${found.how}`);
                if (found.schema && p.schema) errors.push(...schemaErrors(p.schema, found.schema, `header ${p.name}`));
              }
            } else {
              const params = [...(item.parameters || []), ...(op.parameters || [])].map((q) => resolve(project, q));
              const mine = params.find((q) => q.in === p.in && q.name === p.name);
              if (!mine) errors.push(`${p.in} parameter ${p.name} is missing`);
              else {
                if (p.required && !mine.required) errors.push(`${p.in} parameter ${p.name} is required by the seed, not by the project`);
                if (p.schema) errors.push(...schemaErrors(p.schema, mine.schema, `${p.in} parameter ${p.name}`));
              }
            }
          }
          // Request body.
          if (seedOp.requestBody) {
            const seedBody = resolve(seedDoc, seedOp.requestBody);
            const body = resolve(project, op.requestBody || {});
            if (!op.requestBody) errors.push('the operation has no request body');
            else {
              if (seedBody.required && !body.required) errors.push('the request body is required by the seed, not by the project');
              for (const [media, content] of Object.entries(seedBody.content || {})) {
                const mine = body.content?.[media];
                if (!mine) errors.push(`request body: no ${media} media type`);
                else if (content.schema) errors.push(...schemaErrors(content.schema, mine.schema, `request body (${media})`));
              }
            }
          }
          // Responses.
          for (const [status, seedResponseRef] of Object.entries(seedOp.responses || {})) {
            const seedResponse = resolve(seedDoc, seedResponseRef);
            const mineRef = op.responses?.[status];
            if (!mineRef) {
              errors.push(`response ${status} is missing`);
              continue;
            }
            const mine = resolve(project, mineRef);
            for (const [media, content] of Object.entries(seedResponse.content || {})) {
              const mineContent = mine.content?.[media];
              if (!mineContent) errors.push(`response ${status}: no ${media} media type`);
              else if (content.schema) errors.push(...schemaErrors(content.schema, mineContent.schema, `response ${status} (${media})`));
            }
            notes.push(`response ${status} ⇒ ${pointer([...at, 'responses', status])}`);
          }
        }
      }
      if (errors.length === 0) {
        console.log(`ok    ${label}: ${title} is contained in ${path.relative(process.cwd(), projectFile) || projectFile}`);
        for (const note of notes) console.log(`        ${note}`);
      } else {
        ++failures;
        console.log(`FAIL  ${label}: ${title} is not contained in ${projectFile}:`);
        for (const error of errors) console.log(`        - ${error}`);
      }
    }
  }
}

if (checks === 0) {
  console.log('FAIL  the seeds hold no operation to check');
  process.exit(1);
}
console.log(failures === 0
  ? `seed subset check: ${checks} operation(s) contained`
  : `seed subset check: ${failures} of ${checks} operation(s) NOT contained`);
process.exit(failures === 0 ? 0 : 1);
