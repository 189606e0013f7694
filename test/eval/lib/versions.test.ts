// eval/lib/versions.ts against builtins.compareVersions / splitVersion / parseDrvName of Nix 2.8.

import test from 'ava';
import { compareVersions, splitVersion, parseDrvName } from '../../../eval/lib/versions.js';
import { nixJson, nixStr } from './nix-oracle.js';

const VERSIONS = ['', '1', '1.0', '1.0.0', '1.0a', '1.0pre', '1.0pre1', '1.0-pre', '2.3a', '2.3.1', '2.3', '1.2.3-rc1', '10', '9',
  'a', 'b', 'pre', 'pre1', '1..2', '1--2', '.1', '-1', '1.', '0.0.1alpha', '0.0.1beta', '2147483647', '2147483648', '99999999999',
  '01', '1a2b3c', 'é1', '1é', 'alpha-beta.gamma', '1_2', '2.0-unstable-2022-01-01', 'r123', 'v1.2'];

const NAMES = ['hello-2.10', 'apache-httpd-2.0.48', 'nix-2.8.0pre20220101_abcdef', 'foo', 'foo-', 'foo-bar', 'foo-bar-', '-1', '',
  'foo-1-bar-2', 'a-é', 'x--1', 'python3.10-numpy-1.22.3', 'foo-_1'];

test('compareVersions agrees with Nix on every pair', async (t) => {
  const expected = await nixJson(`let vs = [ ${VERSIONS.map(nixStr).join(' ')} ]; in map (a: map (b: builtins.compareVersions a b) vs) vs`) as number[][];
  VERSIONS.forEach((a, i) => VERSIONS.forEach((b, j) => t.is(compareVersions(a, b) as number, expected[i][j], `${a} vs ${b}`)));
});

test('splitVersion and parseDrvName agree with Nix', async (t) => {
  const expected = await nixJson(`{ split = map builtins.splitVersion [ ${VERSIONS.map(nixStr).join(' ')} ];
    names = map builtins.parseDrvName [ ${NAMES.map(nixStr).join(' ')} ]; }`) as { split: string[][]; names: unknown[] };
  VERSIONS.forEach((v, k) => t.deepEqual(splitVersion(v), expected.split[k], `splitVersion ${v}`));
  NAMES.forEach((n, k) => t.deepEqual(parseDrvName(n), expected.names[k], `parseDrvName ${n}`));
});
