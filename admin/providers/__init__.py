"""SMS providers behind one small interface: ``outbox`` (the default) and Twilio over HTTP."""
