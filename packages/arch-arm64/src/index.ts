export const PLACEHOLDER = 'arch-arm64';
