export const PLACEHOLDER = 'pool';
