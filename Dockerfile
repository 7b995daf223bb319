# GenSaaS in one container: build and publish with the SDK, run on the ASP.NET Core runtime as a non-root user.
# docker build -t gensaas . && docker run -p 8080:8080 -v gensaas-data:/data gensaas

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Restore first so that the package layer is reused while only code changes.
COPY Directory.Build.props ./
COPY GenSaaS.Web/GenSaaS.Web.csproj GenSaaS.Web/
COPY GenSaaS.StripeEmulator/GenSaaS.StripeEmulator.csproj GenSaaS.StripeEmulator/
# Restored and published for the image's own architecture (amd64 or arm64, set by BuildKit): only that platform's native
# libraries (SkiaSharp, SQLite) are published, not every platform's.
ARG TARGETARCH=amd64
RUN dotnet restore GenSaaS.Web/GenSaaS.Web.csproj -a "$TARGETARCH"
COPY wwwroot-assets/ wwwroot-assets/
COPY GenSaaS.StripeEmulator/ GenSaaS.StripeEmulator/
COPY GenSaaS.Web/ GenSaaS.Web/
RUN dotnet publish GenSaaS.Web/GenSaaS.Web.csproj -c Release -a "$TARGETARCH" --self-contained false -o /app --no-restore

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
# The runtime image has neither curl nor wget; the health check needs one of them.
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app ./
# The image's built-in non-root user 'app' ($APP_UID) owns the data folder: databases, images, logs, keys.
RUN mkdir -p /data && chown "$APP_UID:$APP_UID" /data
ENV ASPNETCORE_ENVIRONMENT=Production \
    ASPNETCORE_HTTP_PORTS=8080 \
    App__DataDir=/data
VOLUME /data
EXPOSE 8080
USER $APP_UID
# Polls the first of ASPNETCORE_HTTP_PORTS, so changing the port with `-e ASPNETCORE_HTTP_PORTS=9000` moves the check too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${ASPNETCORE_HTTP_PORTS%%[;,]*}/healthz" > /dev/null || exit 1
# Arguments after the image name become operator commands, e.g. `docker run ... gensaas users add --email E`.
ENTRYPOINT ["dotnet", "GenSaaS.Web.dll"]
