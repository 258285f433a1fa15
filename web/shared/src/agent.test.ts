import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { describeAgent } from './agent';

const CHROME_LINUX = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';

describe('describeAgent', () => {
  it('names browsers and systems', () => {
    expect(describeAgent(CHROME_LINUX)).toBe('Chrome · Linux');
    expect(describeAgent('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0')).toBe('Edge · Windows');
    expect(describeAgent('Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1; rv:121.0) Gecko/20100101 Firefox/121.0')).toBe('Firefox · macOS');
    expect(describeAgent('Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1')).toBe('Safari · iOS');
    expect(describeAgent('Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36')).toBe('Chrome · Android');
    expect(describeAgent('curl/8.0')).toBe('curl');
  });

  it('says nothing for no agent, and never cuts an unknown one mid-word', () => {
    expect(describeAgent('')).toBe('—');
    expect(describeAgent(null)).toBe('—');
    expect(describeAgent('python-requests/2.31.0')).toBe('python-requests');
    expect(describeAgent('Go-http-client/1.1')).toBe('Go-http-client');
    expect(describeAgent('okhttp/4.12.0 something-else/1')).toBe('okhttp');
    const long = 'x'.repeat(80);
    expect(describeAgent(long)).toBe(`${'x'.repeat(39)}…`);
  });

  it('is the one formatter both apps use (no app keeps its own copy or shows the raw string)', () => {
    const web = path.resolve(__dirname, '../..');
    const read = (p: string) => fs.readFileSync(path.join(web, p), 'utf8');
    for (const page of ['ulm/src/pages/Sessions.tsx', 'aam/src/pages/UserDetail.tsx']) {
      const src = read(page);
      expect(src, page).toMatch(/describeAgent\(s\.user_agent\)/);
      expect(src, page).not.toMatch(/user_agent\.slice/);
    }
    for (const f of ['ulm/src/logic.ts', 'aam/src/logic.ts']) expect(read(f), f).not.toMatch(/function describeAgent/);
  });
});
