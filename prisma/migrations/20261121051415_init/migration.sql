-- CreateTable
CREATE TABLE "Call" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "callSid" TEXT,
    "streamSid" TEXT,
    "accountSid" TEXT,
    "from" TEXT,
    "to" TEXT,
    "direction" TEXT NOT NULL DEFAULT 'inbound',
    "agent" TEXT NOT NULL DEFAULT 'default',
    "status" TEXT NOT NULL DEFAULT 'initiated',
    "startedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "answeredAt" DATETIME,
    "endedAt" DATETIME,
    "durationMs" INTEGER,
    "endReason" TEXT,
    "notes" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "Transcript" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "callId" TEXT NOT NULL,
    "speaker" TEXT NOT NULL,
    "text" TEXT NOT NULL,
    "unheardText" TEXT,
    "interrupted" BOOLEAN NOT NULL DEFAULT false,
    "confidence" REAL,
    "startMs" INTEGER NOT NULL,
    "endMs" INTEGER,
    "itemId" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Transcript_callId_fkey" FOREIGN KEY ("callId") REFERENCES "Call" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Recording" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "callId" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "container" TEXT NOT NULL DEFAULT 'wav',
    "codec" TEXT NOT NULL DEFAULT 'pcm_s16le',
    "sampleRateHz" INTEGER NOT NULL,
    "channels" INTEGER NOT NULL,
    "durationMs" INTEGER NOT NULL,
    "sizeBytes" INTEGER NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Recording_callId_fkey" FOREIGN KEY ("callId") REFERENCES "Call" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Analytics" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "callId" TEXT NOT NULL,
    "callerTalkMs" INTEGER NOT NULL DEFAULT 0,
    "agentTalkMs" INTEGER NOT NULL DEFAULT 0,
    "silenceMs" INTEGER NOT NULL DEFAULT 0,
    "turns" INTEGER NOT NULL DEFAULT 0,
    "interruptions" INTEGER NOT NULL DEFAULT 0,
    "latencyP50Ms" INTEGER,
    "latencyP95Ms" INTEGER,
    "latencyMaxMs" INTEGER,
    "latenciesMs" JSONB,
    "sentimentLabel" TEXT,
    "sentimentScore" REAL,
    "sentimentSource" TEXT,
    "inputTokens" INTEGER NOT NULL DEFAULT 0,
    "outputTokens" INTEGER NOT NULL DEFAULT 0,
    "inputAudioTokens" INTEGER NOT NULL DEFAULT 0,
    "outputAudioTokens" INTEGER NOT NULL DEFAULT 0,
    "inputTextTokens" INTEGER NOT NULL DEFAULT 0,
    "outputTextTokens" INTEGER NOT NULL DEFAULT 0,
    "cachedTokens" INTEGER NOT NULL DEFAULT 0,
    "estimatedCostUsd" REAL NOT NULL DEFAULT 0,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Analytics_callId_fkey" FOREIGN KEY ("callId") REFERENCES "Call" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "CallMetadata" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "callId" TEXT NOT NULL,
    "language" TEXT,
    "region" TEXT,
    "device" TEXT,
    "networkQuality" TEXT,
    "custom" JSONB,
    CONSTRAINT "CallMetadata_callId_fkey" FOREIGN KEY ("callId") REFERENCES "Call" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "CallEvent" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "callId" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "offsetMs" INTEGER,
    "data" JSONB,
    CONSTRAINT "CallEvent_callId_fkey" FOREIGN KEY ("callId") REFERENCES "Call" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE UNIQUE INDEX "Call_callSid_key" ON "Call"("callSid");

-- CreateIndex
CREATE INDEX "Call_startedAt_idx" ON "Call"("startedAt");

-- CreateIndex
CREATE INDEX "Call_status_startedAt_idx" ON "Call"("status", "startedAt");

-- CreateIndex
CREATE INDEX "Call_from_startedAt_idx" ON "Call"("from", "startedAt");

-- CreateIndex
CREATE INDEX "Call_agent_startedAt_idx" ON "Call"("agent", "startedAt");

-- CreateIndex
CREATE INDEX "Transcript_callId_startMs_idx" ON "Transcript"("callId", "startMs");

-- CreateIndex
CREATE INDEX "Recording_callId_idx" ON "Recording"("callId");

-- CreateIndex
CREATE UNIQUE INDEX "Analytics_callId_key" ON "Analytics"("callId");

-- CreateIndex
CREATE INDEX "Analytics_sentimentLabel_idx" ON "Analytics"("sentimentLabel");

-- CreateIndex
CREATE UNIQUE INDEX "CallMetadata_callId_key" ON "CallMetadata"("callId");

-- CreateIndex
CREATE INDEX "CallEvent_callId_at_idx" ON "CallEvent"("callId", "at");
