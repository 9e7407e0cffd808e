-- The caller channel of each call (existing calls came through Twilio).
ALTER TABLE "Call" ADD COLUMN "provider" TEXT NOT NULL DEFAULT 'twilio';
