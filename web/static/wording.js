/*
 * wording.js: the words of registry/wording.py, in the browser, for /verify.
 *
 * What it does: says what a verified statement claims, who vouches for it and where it is in the
 * log, in exactly the words `registry verify receipt` prints (wording.receipt_claim), from the
 * names the page carries in its data block (wording.Names.to_json). tests/test_browser.py runs
 * both on every statement of the demo registry and on hostile names and compares them.
 *
 * What it does not do: touch the page, or mark anything up. It returns plain strings; the page
 * sets them as textContent, after `shown`, which escapes invisible and direction-changing
 * characters as registry/terminal.py `safe` does.
 */
'use strict';

(function (global) {
  const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October',
    'November', 'December'];
  const UNKNOWN_DATE = 'date not stated in the sources';
  const KIND_NAMES = new Map([['company', 'company'], ['academia', 'academic institution'],
    ['civil-society', 'civil-society group'], ['public-sector', 'public-sector body'],
    ['research', 'research institute']]);

  // Own members only: a statement's slug may be "constructor" or "__proto__"-like, never a lookup of Object's.
  function has(object, key) {
    return object !== null && typeof object === 'object' && Object.prototype.hasOwnProperty.call(object, key);
  }

  function get(object, key, otherwise) {
    return has(object, key) ? object[key] : otherwise;
  }

  // --- dates -------------------------------------------------------------------------------------

  function dateWords(value) {
    if (value === null || value === undefined) return UNKNOWN_DATE;
    const text = String(value);
    const year = text.slice(0, 4);
    const month = MONTHS[parseInt(text.slice(5, 7), 10) - 1];
    if (text.length === 7) return `${month} ${year}`;
    return `${parseInt(text.slice(8, 10), 10)} ${month} ${year}`;
  }

  function onDate(value) {
    if (value === null || value === undefined) return `(${UNKNOWN_DATE})`;
    return (String(value).length === 7 ? 'in ' : 'on ') + dateWords(value);
  }

  function effective(stmt) {
    const value = get(stmt, 'effective_date', null);
    return value ? `effective ${dateWords(value)}` : `effective ${UNKNOWN_DATE}`;
  }

  // --- names ------------------------------------------------------------------------------------

  function codeNames(slug, doc) {
    const versions = new Map(Object.entries(get(doc, 'versions', {})).map(
      ([version, items]) => [version, new Map(Object.entries(items).map(([n, name]) => [Number(n), name]))]));
    return { slug, title: doc.title, short: doc.short, noun: doc.noun, versions };
  }

  function itemNames(code, version) {
    if (version !== null && version !== undefined) return code.versions.get(version) || new Map();
    const named = Array.from(code.versions.values());
    if (!named.length) return new Map();
    return new Map(Array.from(named[0]).filter(([n, name]) => named.every((other) => other.get(n) === name)));
  }

  /** Names.of, from Names.to_json(); countries is registry/countries.py's code -> name. */
  function names(doc, countries) {
    const organizations = new Map(Object.entries(get(doc, 'organizations', {})));
    const codes = new Map(Object.entries(get(doc, 'codes', {})).map(([slug, c]) => [slug, codeNames(slug, c)]));
    const countryNames = new Map(Object.entries(countries || {}));
    return {
      org(slug) {
        if (slug === null || slug === undefined) return 'an organization';
        return organizations.has(slug) ? organizations.get(slug) : String(slug);
      },
      code(slug) {
        if (codes.has(slug)) return codes.get(slug);
        const name = slug ? `Code ${slug}` : 'Code';
        return { slug: slug || '', title: name, short: name, noun: 'item', versions: new Map() };
      },
      country(code) {
        if (code === null || code === undefined) return 'country not stated';
        return countryNames.has(code) ? countryNames.get(code) : String(code);
      },
    };
  }

  // --- scopes -----------------------------------------------------------------------------------

  function scopeWords(scope, noun) {
    if (scope === 'all') return `all ${noun}s`;
    if (!Array.isArray(scope) || !scope.length) return `no ${noun}s`;
    const runs = [];
    for (const number of scope) {
      const last = runs[runs.length - 1];
      if (last && number === last[last.length - 1] + 1) last.push(number);
      else runs.push([number]);
    }
    const parts = runs.map((r) => (r.length === 1 ? `${r[0]}` : `${r[0]}-${r[r.length - 1]}`));
    return (scope.length === 1 ? `${noun} ` : `${noun}s `) + parts.join(', ');
  }

  function scopePhrase(scope, code, version) {
    const words = scopeWords(scope, code.noun);
    const named = itemNames(code, version);
    if (Array.isArray(scope) && scope.length && scope.length <= 3 && scope.every((n) => named.has(n))) {
      if (scope.length === 1) return `${words} (${named.get(scope[0])})`;
      return `${code.noun}s ` + scope.map((n) => `${n} (${named.get(n)})`).join(', ');
    }
    return words;
  }

  // --- the claim ----------------------------------------------------------------------------------

  function claim(stmt, nm, version) {
    const type = get(stmt, 'type', null);
    const org = get(stmt, 'org', null) ? nm.org(stmt.org) : 'An organization';
    const code = nm.code(get(stmt, 'code', null));
    const v = get(stmt, 'version', null) || version || null;
    const theCode = `the ${code.short}`;
    switch (type) {
      case 'endorsement.made':
        if (get(stmt, 'scope', null) === 'all') {
          return `${org} endorsed ${theCode} (${scopeWords('all', code.noun)}), ${effective(stmt)}`;
        }
        return `${org} endorsed ${scopePhrase(get(stmt, 'scope', null), code, v)} of ${theCode}, ${effective(stmt)}`;
      case 'endorsement.amended': {
        const change = has(stmt, 'scope') ? `now ${scopePhrase(stmt.scope, code, v)}` : 'its statement changed';
        return `${org} amended its endorsement of ${theCode} (${change}), ${effective(stmt)}`;
      }
      case 'endorsement.reaffirmed':
        return `${org} reaffirmed its endorsement of ${theCode} for version ${v}, ${effective(stmt)}`;
      case 'endorsement.withdrawn':
        return `${org} withdrew its endorsement of ${theCode}, ${effective(stmt)}`;
      case 'endorsement.declined':
        return `${org} declined to endorse ${theCode}, ${effective(stmt)}`;
      case 'report.published': {
        let what = get(stmt, 'framework', '');
        if (get(stmt, 'period', null)) what += `, period ${stmt.period}`;
        return `${org} published a report under ${theCode} (${what}) ${onDate(get(stmt, 'published_on', null))}`;
      }
      case 'code.revision_published': {
        const supersedes = get(stmt, 'supersedes', null) ? `, superseding version ${stmt.supersedes}` : '';
        return `Version ${v} of the ${get(stmt, 'title', code.title)} was published `
          + onDate(get(stmt, 'published_on', null)) + supersedes;
      }
      case 'organization.registered': {
        const kind = get(stmt, 'kind', '');
        const kindName = KIND_NAMES.has(kind) ? KIND_NAMES.get(kind) : get(stmt, 'kind', null);
        return `${get(stmt, 'name', org)} (${nm.country(get(stmt, 'country', null))}, ${kindName}) `
          + 'was registered in this registry';
      }
      case 'organization.updated': {
        const changed = ['name', 'country', 'kind', 'website'].filter((f) => has(stmt, f));
        return changed.length ? `${org} updated its profile (${changed.join(', ')})` : `${org} updated its profile`;
      }
      case 'organization.key_added':
        return `${org} added a signing key`;
      case 'organization.key_revoked':
        return `${org} revoked a signing key`;
      case 'maintainer.key_added':
        return `A maintainer key was added: ${get(stmt, 'name', '')}`;
      case 'maintainer.key_revoked':
        return 'A maintainer key was revoked';
      case 'registry.genesis':
        return `Registry founded: ${get(stmt, 'name', '')}`;
      default:
        return `A ${type} record`;
    }
  }

  // --- who vouches for it ---------------------------------------------------------------------------

  function sources(evidence) {
    const kinds = new Set((Array.isArray(evidence) ? evidence : [])
      .filter((e) => e !== null && typeof e === 'object' && !Array.isArray(e)).map((e) => get(e, 'source', null)));
    if (kinds.has('primary') && kinds.has('secondary')) return 'primary and secondary';
    if (kinds.has('primary')) return 'primary';
    if (kinds.has('secondary')) return 'secondary';
    return 'unmarked';
  }

  function citing(evidence) {
    const kinds = sources(evidence);
    return kinds === 'unmarked' ? 'sources not marked primary or secondary' : `${kinds} sources`;
  }

  function isEmpty(evidence) {
    return !evidence || (Array.isArray(evidence) && !evidence.length);
  }

  function provenance(stmt, role, keyId, keyChecked) {
    const evidence = get(stmt, 'evidence', null);
    if (role === null || role === undefined) {
      const unknown = "its role is not known without the registry's state";
      const key = String(keyId || '').slice(0, 16);
      const said = keyChecked ? `signed by key ${key}…, the signer key given (${unknown})`
        : `signed by key ${key}… (not checked; ${unknown})`;
      return isEmpty(evidence) ? said : `${said}, citing ${citing(evidence)}`;
    }
    if (role === 'organization') return 'signed by the organization itself';
    if (role === 'root') return "signed by the registry's root key";
    if (isEmpty(evidence)) return 'recorded by a maintainer';
    return `recorded by a maintainer from ${citing(evidence)}`;
  }

  /** wording.receipt_claim: index and size may be numbers or BigInts. */
  function receiptClaim(stmt, nm, role, { index, size, keyId = '', keyChecked = false }) {
    return `${claim(stmt, nm, null)}; ${provenance(stmt, role, keyId, keyChecked)}; `
      + `in the log at #${index}, covered by checkpoint ${size}`;
  }

  // --- showing it ---------------------------------------------------------------------------------

  /** One line, as the command line prints it: registry/terminal.py `safe`, and a newline as \n. */
  function shown(text) {
    return String(text).replace(/[\p{Cc}\p{Cf}\p{Cs}\u2028\u2029]/gu, (c) => {
      if (c === '\n') return '\\n';
      const point = c.codePointAt(0);
      return point <= 0xffff ? `\\u${point.toString(16).padStart(4, '0')}`
        : `\\U${point.toString(16).padStart(8, '0')}`;
    });
  }

  global.hcocWording = Object.freeze({ names, claim, provenance, receiptClaim, shown, dateWords, scopeWords });
})(window);
