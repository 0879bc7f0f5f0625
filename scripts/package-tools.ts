// What `npm run package` needs besides npm's own packages, and getting it on a fresh machine: where a
// tool is missing and this is root with apt-get (Debian/Ubuntu) or dnf (Fedora/Amazon Linux), it is
// installed, as the demo installs its tools; otherwise the build stops at once saying exactly what to
// run (or which --skip flag to pass).
import { spawnSync } from 'node:child_process';

export type PackageTool = 'dpkg-deb' | 'rpmbuild' | 'systemd-analyze';
export type PackageManager = 'apt-get' | 'dnf';

/** Each tool, what it is for, and the package that has it per package manager. */
export const PACKAGE_TOOLS: Record<PackageTool, { for: string; packages: Record<PackageManager, string> }> = {
  'dpkg-deb': { for: 'the .deb', packages: { 'apt-get': 'dpkg', dnf: 'dpkg' } },
  rpmbuild: { for: 'the .rpm', packages: { 'apt-get': 'rpm', dnf: 'rpm-build' } },
  'systemd-analyze': { for: 'checking the unit', packages: { 'apt-get': 'systemd', dnf: 'systemd' } },
};

/** The tools a build needs, given its --skip flags. Pure. */
export function neededTools(options: { deb: boolean; rpm: boolean }): PackageTool[] {
  return [
    'systemd-analyze' as const,
    ...(options.deb ? ['dpkg-deb' as const] : []),
    ...(options.rpm ? ['rpmbuild' as const] : []),
  ];
}

/** The command that installs `tools`. Pure. */
export function installCommand(tools: readonly PackageTool[], manager: PackageManager): string {
  const packages = [...new Set(tools.map((t) => PACKAGE_TOOLS[t].packages[manager]))];
  return manager === 'apt-get'
    ? `apt-get install -y --no-install-recommends ${packages.join(' ')}`
    : `dnf install -y ${packages.join(' ')}`;
}

/** What to tell a person when tools are missing and could not be installed. Pure. */
export function missingToolsMessage(tools: readonly PackageTool[], why: string): string {
  const list = tools.map((t) => `${t} (for ${PACKAGE_TOOLS[t].for})`).join(', ');
  const skips = tools
    .filter((t) => t !== 'systemd-analyze')
    .map((t) => (t === 'rpmbuild' ? '--skip-rpm' : '--skip-deb'));
  return [
    `missing ${list}; ${why}. Install them with`,
    `    Debian/Ubuntu:        sudo ${installCommand(tools, 'apt-get')}`,
    `    Fedora/Amazon Linux:  sudo ${installCommand(tools, 'dnf')}`,
    ...(skips.length ? [`  or build without them: npm run package -- ${skips.join(' ')}`] : []),
  ].join('\n');
}

function has(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

/** Installs missing tools where it can (root and apt-get or dnf); throws with instructions where not. */
export function ensurePackageTools(tools: readonly PackageTool[], say: (line: string) => void): void {
  let missing = tools.filter((t) => !has(t));
  if (missing.length === 0) return;
  const manager = (['apt-get', 'dnf'] as const).find(has);
  if (process.getuid?.() !== 0 || !manager) {
    throw new Error(missingToolsMessage(missing, manager ? 'installing them needs root' : 'no apt-get or dnf here'));
  }
  const command = installCommand(missing, manager);
  say(`package: ${missing.join(', ')} missing: ${command}`);
  const [bin, ...args] = command.split(' ') as [string, ...string[]];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync(bin, args, { stdio: 'inherit', env, timeout: 900_000 }).status === 0;
  if (!install() && manager === 'apt-get') {
    // A fresh machine may have no package lists yet.
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env, timeout: 900_000 });
    install();
  }
  missing = missing.filter((t) => !has(t));
  if (missing.length > 0) throw new Error(missingToolsMessage(missing, `\`${command}\` did not provide them`));
}
