export const PLACEHOLDER = 'wr-ops';
