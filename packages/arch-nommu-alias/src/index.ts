export const PLACEHOLDER = 'arch-nommu-alias';
