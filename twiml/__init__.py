"""Pure TwiML builders: plain values in, TwiML text out; no HTTP, no database."""
