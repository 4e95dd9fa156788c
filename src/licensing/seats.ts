export const DEMO_POOL = '*DEMO';
