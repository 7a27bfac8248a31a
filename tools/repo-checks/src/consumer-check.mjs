console.log('consumer check: TODO (helper)');
