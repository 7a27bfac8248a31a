export const PLACEHOLDER = 'arch-x86';
