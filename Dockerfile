# cachesrv in a container, with the network defaults of the official redis image:
# listen on every interface, protected mode off (the container's network is the boundary).
FROM python:3.11-slim
WORKDIR /opt/cachesrv
COPY pyproject.toml README.md ./
COPY cachesrv ./cachesrv
COPY protocols ./protocols
RUN pip install --no-cache-dir . && mkdir -p /data
WORKDIR /data
EXPOSE 6379 11211 8000
CMD ["cachesrv", "--bind", "*", "-::*", "--protected-mode", "no"]
