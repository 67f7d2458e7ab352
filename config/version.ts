// Lifeboat's own version, as package.json states it.
import packageJson from '../package.json' with { type: 'json' };

export const lifeboatVersion: string = packageJson.version;
