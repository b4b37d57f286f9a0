import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { allowedHosts, apiBaseUrl, operatorKey, operatorKeyFile } from '@/lib/server/config';

describe('server config', () => {
  it('finds the API', () => {
    expect(apiBaseUrl({})).toBe('http://127.0.0.1:8080');
    expect(apiBaseUrl({ TERMINUS_LISTEN: '127.0.0.1:9090' })).toBe('http://127.0.0.1:9090');
    expect(apiBaseUrl({ TERMINUS_API_URL: 'http://api:8080/', TERMINUS_LISTEN: 'x:1' })).toBe('http://api:8080');
  });
  it('takes the operator key from the environment, else from make run’s file', () => {
    const repo = mkdtempSync(path.join(tmpdir(), 'terminus-ui-'));
    const cwd = path.join(repo, 'frontend');
    mkdirSync(cwd);
    expect(operatorKey({}, cwd)).toBeNull();
    mkdirSync(path.join(repo, '.terminus'));
    writeFileSync(path.join(repo, '.terminus', 'operator_key'), 'op_fromfile\n');
    expect(operatorKeyFile({}, cwd)).toBe(path.join(repo, '.terminus', 'operator_key'));
    expect(operatorKey({}, cwd)).toBe('op_fromfile');
    expect(operatorKey({ TERMINUS_OPERATOR_KEY: 'op_env' }, cwd)).toBe('op_env');
    writeFileSync(path.join(repo, 'k'), '\n');
    expect(operatorKey({ TERMINUS_OPERATOR_KEY_FILE: path.join(repo, 'k') }, cwd)).toBeNull();
  });
  it('reads extra host names', () => {
    expect(allowedHosts({})).toEqual([]);
    expect(allowedHosts({ TERMINUS_UI_ALLOWED_HOSTS: ' a.example, ,b ' })).toEqual(['a.example', 'b']);
  });
});
