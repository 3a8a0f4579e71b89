// The syntax of a secret's name, one definition for the policy schema, the engine's credential
// decisions and the secret store: letters, digits, ".", "_", "/" or "-", starting with a letter or
// digit, at most 128 characters. And of a credential file's name (no slashes: it is one file in
// the session's /run/perimeter/credentials).

export const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/;

export const CREDENTIAL_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
