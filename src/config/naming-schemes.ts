// The names of the interface naming schemes udev 257 knows, oldest first, as the naming_scheme config key and
// net.naming_scheme= accept them ("latest" too). What each scheme changes is src/net/naming-scheme.ts's.
export const NAMING_SCHEME_NAMES = ['v238', 'v239', 'v240', 'v241', 'v243', 'v245', 'v247', 'v249', 'v250', 'v251', 'v252', 'v253', 'v254', 'v255', 'v257'] as const;

export type NamingSchemeName = (typeof NAMING_SCHEME_NAMES)[number];
